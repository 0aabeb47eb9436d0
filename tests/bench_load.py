"""What the deploy format's checks cost when a legitimate file is loaded.

`load_quantized` of a ResNet-20 W2A2 student's `.sqakd` file (Fashion-MNIST-sized, 1x28x28), timed with its checks
(the operator allow-list and its rules, `check_graph`; the bounded inflation of the header) and, interleaved call by
call in the same run, as the loader was before the checks: `torch.fx`'s `Graph.lint()` where `check_graph` runs now
(the loader linted every graph; the checks replaced it) and the header inflated in one unbounded `zlib.decompress`. The table gives the median of each and their ratio;
`cache_weights=True` too (it decodes the weights at load).

    python tests/bench_load.py [--reps 30]
"""
import time, statistics, tempfile, warnings, zlib
warnings.filterwarnings('ignore')
from contextlib import contextmanager
from pathlib import Path
import torch, pandas as pd
from fastcore.script import call_parse
import sqakd_fastai.export as E
from sqakd_fastai.all import *

@contextmanager
def unchecked():
    "`load_quantized` as before the allow-list: the graph linted, not checked; the header inflated whole"
    check,inflate = E.check_graph,E._inflate
    E.check_graph,E._inflate = (lambda g, *a, **k: g.lint()),(lambda fname, data, limit=None: zlib.decompress(data))
    try: yield
    finally: E.check_graph,E._inflate = check,inflate

@call_parse
def main(reps:int=30): # timed loads of each kind
    torch.manual_seed(0)
    x = torch.randn(8, 1, 28, 28)
    m = init_quantizers(quantize_model(resnet20(1, 10), 2, 2), x).eval()
    f = export_quantized(m, Path(tempfile.mkdtemp())/'resnet20_w2a2.sqakd', x)
    rows = []
    for cache in (False, True):
        ts = {'checked': [], 'unchecked': []}
        for _ in range(reps):
            for kind in ts:
                with (unchecked() if kind == 'unchecked' else contextmanager(lambda: (yield))()):
                    t = time.perf_counter(); load_quantized(f, cache_weights=cache); ts[kind].append(time.perf_counter() - t)
        c,u = statistics.median(ts['checked']),statistics.median(ts['unchecked'])
        rows.append(dict(cache_weights=cache, checked_ms=round(1e3*c, 1), unchecked_ms=round(1e3*u, 1), ratio=round(c/u, 3)))
    print(f"load_quantized of {f.name} ({f.stat().st_size:,} B), median of {reps} interleaved loads each, {torch.get_num_threads()} threads")
    print(pd.DataFrame(rows).to_string(index=False))
