"""The installed package on whichever fastai stack this venv holds (the pinned dev stack, or the newest
fastai and fastcore that `pip install sqakd_fastai` gives a user): import, metadata, and the one-liner
training a quantized student label-free, with a real fastai loop."""
import configparser, warnings
from pathlib import Path
import pytest, torch, torch.nn as nn
import fastai, fastcore
from fastai.learner import Learner
from fastai.data.core import DataLoaders
from fastai.data.load import DataLoader
from fastai.losses import CrossEntropyLossFlat
from fastai.metrics import accuracy
import sqakd_fastai
from sqakd_fastai.all import *

ROOT = Path(__file__).resolve().parents[1]

def test_version_matches_settings():
    cfg = configparser.ConfigParser(); cfg.read(ROOT/'settings.ini')
    assert sqakd_fastai.__version__ == cfg['DEFAULT']['version']

def test_all_exports_public_api():
    ns = {}
    exec('from sqakd_fastai.all import *', ns)
    for name in ('quantize_learner', 'SQAKDCallback', 'SQAKDLoss', 'TeacherAgreement', 'kd_loss', 'quantize_model',
                 'init_quantizers', 'QConv2d', 'QLinear', 'make_quantizer', 'fashion_mnist_dls', 'folder_dls'):
        assert name in ns, name
    assert hasattr(Learner, 'quantize')

def _dls(labeled=True, n=192, bs=32):
    torch.manual_seed(0)
    x = torch.randn(n, 3, 8, 8); y = (x.mean((1, 2, 3)) > 0).long() + 2*(x[:, 0].mean((1, 2)) > 0).long()
    ds = list(zip(x, y)) if labeled else [(o,) for o in x]
    return DataLoaders(DataLoader(ds[:128], bs=bs, shuffle=True, drop_last=True), DataLoader(ds[128:], bs=bs))

def _cnn():
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(16, 16, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 4))

@pytest.mark.parametrize('method', ['ewgs', 'ste', 'pact', 'lsq', 'dorefa'])
def test_one_liner_trains(method):
    learn = Learner(_dls(), _cnn(), loss_func=CrossEntropyLossFlat(), metrics=accuracy)
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-2)
    teacher_state = {k: v.clone() for k,v in learn.model.state_dict().items()}
    assert quantize_learner(learn, bits=2, method=method) is learn
    assert len(quant_layers(learn.model)) == 2
    q0 = [p.detach().clone() for p in quantizer_params(learn.model)]
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(2, 1e-2)
    loss, acc, agree = learn.validate()
    assert loss == loss and 0 <= agree <= 1
    for k,v in learn.sqakd.teacher.state_dict().items(): assert torch.equal(v, teacher_state[k]), k
    assert any(not torch.equal(p, p0) for p,p0 in zip(quantizer_params(learn.model), q0)) or method == 'dorefa'
    assert isinstance(learn.loss_func, CrossEntropyLossFlat)

def test_unlabeled_dataloaders_train():
    t = Learner(_dls(), _cnn(), loss_func=CrossEntropyLossFlat())
    with t.no_bar(), t.no_logging(): t.fit(2, 1e-2)
    learn = Learner(_dls(labeled=False), t.model, loss_func=CrossEntropyLossFlat()).quantize(1)
    before = learn.validate()[0]
    with learn.no_bar(), learn.no_logging(): learn.fit(3, 3e-3)
    after = learn.validate()[0]
    assert after < before

def test_bad_input_leaves_learner_untouched():
    learn = Learner(_dls(), _cnn(), loss_func=CrossEntropyLossFlat())
    cbs, model_repr = list(learn.cbs), repr(learn.model)
    for kw in (dict(bits=0), dict(method='nope'), dict(T=0), dict(layer_bits={'x': 2})):
        with pytest.raises((ValueError, TypeError)): quantize_learner(learn, **kw)
        assert list(learn.cbs) == cbs and repr(learn.model) == model_repr

def _settings():
    cfg = configparser.ConfigParser(); cfg.read(ROOT/'settings.ini'); return cfg['DEFAULT']

def _names(reqs): return {r.split('>')[0].split('=')[0].split('<')[0].strip().lower() for r in reqs.split()}

def test_extras_match_settings():
    "`EXTRAS` (what `import_extra` imports) and settings.ini's extras name the same packages"
    from sqakd_fastai.extras import EXTRAS
    for extra,mods in EXTRAS.items(): assert _names(_settings()[f'{extra}_requirements']) == set(mods), extra

def test_requirements_are_what_the_code_imports():
    "settings.ini's `requirements` are exactly the packages the library imports (at any level) outside the standard library and the extras"
    import ast, sys
    from sqakd_fastai.extras import EXTRAS
    extras = {m for ms in EXTRAS.values() for m in ms}
    found = set()
    for f in (ROOT/'sqakd_fastai').glob('*.py'):
        for n in ast.walk(ast.parse(f.read_text())):
            if isinstance(n, ast.Import): found |= {a.name.split('.')[0] for a in n.names}
            elif isinstance(n, ast.ImportFrom) and n.level == 0: found.add(n.module.split('.')[0])
    found -= set(sys.stdlib_module_names) | {'sqakd_fastai'} | extras
    assert found == _names(_settings()['requirements']), found

PLAIN = '''
import sys
BLOCKED = {'accelerate', 'onnx', 'onnxscript', 'onnxruntime'}
sys.modules.update(dict.fromkeys(BLOCKED)) # as in `pip install sqakd_fastai` without extras: importing one fails, find_spec finds none
import torch, torch.nn as nn
from fastai.learner import Learner
from fastai.data.core import DataLoaders
from fastai.data.load import DataLoader
from fastai.losses import CrossEntropyLossFlat
from sqakd_fastai.all import *
import fastai.torch_core as tc
assert tc.maybe_gather.__module__ == 'fastai.torch_core' # importing the library changed nothing in fastai
apply_fastai_fixes(); assert tc.maybe_gather is maybe_gather
from sqakd_fastai.distributed import DistributedTrainer # the stand-in: the fixes it took are removed again
remove_fastai_fixes(); assert tc.maybe_gather.__module__ == 'fastai.torch_core' and not hasattr(DistributedTrainer, 'before_fit')
torch.manual_seed(0)
x = torch.randn(96, 3, 8, 8); y = (x.mean((1, 2, 3)) > 0).long()
dls = DataLoaders(DataLoader(list(zip(x[:64], y[:64])), bs=16, shuffle=True, drop_last=True), DataLoader(list(zip(x[64:], y[64:])), bs=16))
net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2))
learn = Learner(dls, net, loss_func=CrossEntropyLossFlat())
with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-2)
learn = quantize_learner(learn, bits=2)
with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(1, 1e-2)
f = export_quantized(learn.model, sys.argv[1] + '/s.sqakd', x[:4])
with torch.no_grad(): assert torch.allclose(load_quantized(f)(x[:4]), learn.model.eval()(x[:4]), atol=1e-5)
assert len(quant_report(learn.model, x[:4])) > 0
for call,extra in ((lambda: learn.distrib_ctx(), 'distributed'), (lambda: export_onnx(learn.model, sys.argv[1] + '/s.onnx', x[:4]), 'onnx'),
                   (lambda: onnx_session(sys.argv[1] + '/s.onnx'), 'onnx')):
    try: call(); raise AssertionError(f'no error without the {extra} extra')
    except ImportError as e: assert f"pip install 'sqakd_fastai[{extra}]'" in str(e), e
assert not [m for m in BLOCKED if sys.modules[m] is not None]
print('plain ok')
'''

def test_single_process_path_without_extras(tmp_path):
    "The whole single-process path where no extra can be imported (whether or not this venv has them): the naming ImportErrors for the rest"
    import os, subprocess, sys
    r = subprocess.run([sys.executable, '-c', PLAIN, str(tmp_path)], capture_output=True, text=True, timeout=600, env=dict(os.environ, PYTHONWARNINGS='ignore'))
    assert r.returncode == 0 and 'plain ok' in r.stdout, r.stderr[-3000:]
