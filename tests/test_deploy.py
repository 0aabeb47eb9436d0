"""Deployment as a user does it: a student whose class exists only in the process that trained it is exported,
then loaded in a fresh process that never sees that class and cannot unpickle anything."""
import os, subprocess, sys, textwrap
from pathlib import Path
import numpy as np

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

def run(code, *args):
    env = dict(os.environ, PYTHONWARNINGS='ignore')
    return subprocess.run([sys.executable, '-c', code, *map(str, args)], capture_output=True, text=True, env=env, timeout=600)

def test_fresh_process_loads_without_the_class_and_without_pickle(tmp_path):
    r = run(EXPORT, tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    r = run(LOAD, tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'loaded GraphModule' in r.stdout, r.stdout
