"""Deployment as a user does it: a student whose class exists only in the process that trained it is exported,
then loaded in a fresh process that never sees that class and cannot unpickle anything; and its ONNX file runs
in a process that has ONNX Runtime and NumPy only (neither PyTorch nor sqakd_fastai). Then the nets users bring
(torchvision's MobileNetV3, EfficientNet and a ViT) go through the deploy format's allow-list and back."""
import os, subprocess, sys, textwrap
from pathlib import Path
import numpy as np, pytest

EXPORT = textwrap.dedent('''
    import sys, torch, torch.nn as nn, torch.nn.functional as F
    from sqakd_fastai.quantizers import quantize_model, init_quantizers
    from sqakd_fastai.export import export_quantized
    class NotebookNet(nn.Module): # defined here, in __main__, and nowhere else
        def __init__(self):
            super().__init__()
            self.c1,self.c2,self.bn,self.fc = nn.Conv2d(1, 8, 3),nn.Conv2d(8, 8, 3, groups=2),nn.BatchNorm2d(8),nn.Linear(8, 10)
        def forward(self, x): return self.fc(F.adaptive_avg_pool2d(F.relu(self.bn(self.c2(F.relu(self.c1(x))))), 1).flatten(1))
    torch.manual_seed(0)
    x = torch.randn(16, 1, 28, 28)
    m = init_quantizers(quantize_model(NotebookNet(), 2, 2, 'lsq', skip_first_last=False), x).eval()
    export_quantized(m, sys.argv[1] + '/net.sqakd', x[:4])
    from sqakd_fastai.extras import has_extra
    if has_extra('onnx'):
        from sqakd_fastai.onnx_export import export_onnx
        export_onnx(m, sys.argv[1] + '/net.onnx', x[:4])
    with torch.no_grad(): y = m(x)
    x.numpy().tofile(sys.argv[1] + '/x.f32'); y.numpy().tofile(sys.argv[1] + '/y.f32')
    torch.save(m.state_dict(), sys.argv[1] + '/sd.pth') # a pickle, for the loader's check that unpickling is really off
''')

LOAD = textwrap.dedent('''
    import sys, pickle, _pickle
    import numpy as np, torch, torch._weights_only_unpickler as wou
    from sqakd_fastai.export import load_quantized
    def refuse(*a, **k): raise RuntimeError('unpickling is disabled in this process')
    class Refused: # an unpickler class that cannot be made (torch subclasses pickle's)
        def __init__(self, *a, **k): refuse()
    for mod in (pickle, _pickle, wou): # every unpickler off from here on
        mod.load,mod.Unpickler = refuse,Refused
    pickle.loads = _pickle.loads = torch.load = refuse
    m = load_quantized(sys.argv[1] + '/net.sqakd')
    x = torch.from_numpy(np.fromfile(sys.argv[1] + '/x.f32', dtype=np.float32).reshape(16, 1, 28, 28))
    y = torch.from_numpy(np.fromfile(sys.argv[1] + '/y.f32', dtype=np.float32).reshape(16, 10))
    with torch.no_grad(): err = max((m(x) - y).abs().max().item(), (m(x[:1]) - y[:1]).abs().max().item())
    assert err <= 1e-5, err
    assert 'NotebookNet' not in repr(m) and not any('NotebookNet' in repr(v) for v in vars(sys.modules['__main__']).values())
    for wo in (True, False): # the traps work: torch's own loader, weights-only or not, cannot read a pickle here
        try: torch.serialization.load(sys.argv[1] + '/sd.pth', weights_only=wo); raise AssertionError('a pickle was read')
        except RuntimeError as e: assert 'unpickling is disabled' in str(e), e
    print('loaded', type(m).__name__, err)
''')

ONNX = textwrap.dedent('''
    import sys
    import numpy as np, onnxruntime as ort
    sess = ort.InferenceSession(sys.argv[1] + '/net.onnx', providers=['CPUExecutionProvider'])
    x = np.fromfile(sys.argv[1] + '/x.f32', dtype=np.float32).reshape(16, 1, 28, 28)
    y = np.fromfile(sys.argv[1] + '/y.f32', dtype=np.float32).reshape(16, 10)
    yo = np.concatenate([sess.run(None, {'x0': x[:1]})[0], sess.run(None, {'x0': x[1:]})[0]]) # batches of 1 and 15
    big,mean,top1 = np.abs(yo - y).max()/np.abs(y).max(),np.abs(yo - y).mean()/np.abs(y).max(),(yo.argmax(1) == y.argmax(1)).mean()
    assert mean <= 1e-3 and top1 == 1, (big, mean, top1) # activations at 2 bits: a code at a rounding boundary may move (see 06a_onnx)
    assert not any(m.split('.')[0] in ('torch', 'sqakd_fastai', 'fastai') for m in sys.modules), 'this process should need ONNX Runtime only'
    print('onnx ok', big, mean)
''')

def run(code, *args):
    env = dict(os.environ, PYTHONWARNINGS='ignore')
    return subprocess.run([sys.executable, '-c', code, *map(str, args)], capture_output=True, text=True, env=env, timeout=600)

@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    "One export, in its own process, for both loaders"
    d = tmp_path_factory.mktemp('deploy')
    r = run(EXPORT, d)
    assert r.returncode == 0, r.stderr[-3000:]
    return d

def test_fresh_process_loads_without_the_class_and_without_pickle(exported):
    r = run(LOAD, exported)
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'loaded GraphModule' in r.stdout, r.stdout

@pytest.mark.extra('onnx')
def test_onnx_runs_with_onnxruntime_alone(exported):
    r = run(ONNX, exported)
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'onnx ok' in r.stdout, r.stdout

ZOO = ['mobilenet_v3_small', 'efficientnet_b0', 'vit'] # of tests/zoo.py: SE gates, hardswish/hardsigmoid, in-place activations; SiLU, sigmoid gates, dropout in inference; attention

@pytest.mark.parametrize('name', ZOO)
def test_zoo_nets_pass_the_allow_list(name, tmp_path):
    "Each net exports (its operators all on `DEPLOY_OPS`, no rule broken) and loads back to the same outputs, decoded per call or cached"
    import torch, zlib, struct
    from zoo import NETS
    from sqakd_fastai.quantizers import quantize_model, init_quantizers
    from sqakd_fastai.export import export_quantized, load_quantized, DEPLOY_MAX_HEADER, _MAGIC
    torch.manual_seed(0)
    x = torch.randn(4, 1, 28, 28)
    m = init_quantizers(quantize_model(NETS[name](), 4, 4, 'ewgs'), x).eval()
    f = export_quantized(m, tmp_path/f'{name}.sqakd', x)
    raw = f.read_bytes(); n = len(_MAGIC); (hl,) = struct.unpack('<Q', raw[n+1:n+9])
    assert len(zlib.decompress(raw[n+9:n+9+hl])) < DEPLOY_MAX_HEADER/64 # the header bound leaves room (EfficientNet-B0's: 0.5 MiB)
    with torch.no_grad():
        y = m(x)
        for cache in (False, True): assert (load_quantized(f, cache_weights=cache)(x) - y).abs().max() <= 1e-4*y.abs().max()
