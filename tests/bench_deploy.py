"""Inference cost of a deployed (exported, then loaded) W2A2 student against its full-precision model.

ResNet-20 on Fashion-MNIST-sized inputs (1x28x28), CPU, eval mode, no gradient. Four models are timed side by side
in one run, interleaved call by call so that the machine's load drifts hit them alike: the FP32 model, the
fake-quantized student as it trains (FP32 shadow weights, quantizers in the loop), and the student loaded from its
`.sqakd` file with its weights decoded at every call (the default: packed codes in memory) or once at load
(`cache_weights=True`). For batch 1 and batch 64 the table gives the median latency and its ratio to FP32, and the
bytes of weights each model holds in memory (parameters and buffers).

    python tests/bench_deploy.py [--reps 200] [--bits 2] [--method ewgs] [--threads N]
"""
import time, statistics, tempfile, warnings
warnings.filterwarnings('ignore')
from pathlib import Path
import torch, pandas as pd
from fastcore.script import call_parse
from sqakd_fastai.all import *

def nbytes(m): return sum(t.numel()*t.element_size() for t in list(m.parameters()) + list(m.buffers()))

@call_parse
def main(reps:int=200, # timed calls of each model at each batch size (after 5 warm-up calls)
         bits:int=2, # weight and activation bits
         method:str='ewgs', # quantizer method
         threads:int=0, # torch threads (0: torch's default)
        ):
    if threads: torch.set_num_threads(threads)
    torch.manual_seed(0)
    x = torch.randn(64, 1, 28, 28)
    fp = resnet20(1, 10).eval()
    fq = init_quantizers(quantize_model(resnet20(1, 10), bits, bits, method), x).eval()
    fn = export_quantized(fq, Path(tempfile.mkdtemp())/'student.sqakd', x[:2])
    models = {'FP32': fp, f'W{bits}A{bits} fake-quantized (training form)': fq,
              f'W{bits}A{bits} loaded, decoded per call': load_quantized(fn),
              f'W{bits}A{bits} loaded, cache_weights=True': load_quantized(fn, cache_weights=True)}
    rows = []
    with torch.no_grad():
        for bs in (1, 64):
            xb = x[:bs]
            for m in models.values():
                for _ in range(5): m(xb)
            t = {k: [] for k in models}
            for _ in range(reps):
                for k,m in models.items():
                    t0 = time.perf_counter(); m(xb); t[k].append(time.perf_counter() - t0)
            med = {k: statistics.median(v) for k,v in t.items()}
            for k in models: rows.append(dict(model=k, batch=bs, median_ms=round(1e3*med[k], 3), ratio_to_fp32=round(med[k]/med['FP32'], 3),
                                              weights_bytes=nbytes(models[k])))
    df = pd.DataFrame(rows)
    print(f"file {fn.stat().st_size:,} bytes; torch {torch.__version__}, {torch.get_num_threads()} threads")
    with pd.option_context('display.width', 200): print(df.to_string(index=False))
    return df
