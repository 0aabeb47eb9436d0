"""Where the integer ONNX graph's predictions part from the fake-quantized student's, and why. Top-1 agreement with
the student of: ONNX Runtime's integer model (`onnx_runtime`), and of it with the student computed in float64
(`onnx_runtime_vs_float64`: integer kernels sum exactly); its PyTorch twin (`integer_model`, `twin`, which rounds the
convolutions' biases to int32 as ONNX Runtime does); the twin with float biases (`float_biases`); that twin
with the student's own float weights in place of the int8 codes, BatchNorm folded (`float_weights`); that twin with
the 8-bit requantized sums (those a residual addition or a SiLU reads) also left in float (`and_float_sums`); the same
for a copy of the student whose EWGS/STE activation grids are moved to hold 0 (a whole number of steps below it, as
TensorFlow's fake quantization nudges them in training), against that copy (`and_zero_on_grids`): what is left is
float rounding; and the student in float64 against itself in float32 (`student_float64`): how far float rounding
alone moves it. Each column removes one of the differences `13_deployment` lists, so the steps between columns say
what each costs.

Zoo teachers (`tests/zoo.py`, trained `--teacher_epochs` epochs with labels, cached), students quantized by the
defaults and distilled `--epochs` label-free epochs at `student_lr`, the integer graph calibrated on the first
training batches as `export_onnx` does for a Learner; `--n_valid` test images.

`--integer` trains `integer=True` students instead (the student that its integer graph computes).

    python tests/int8_gap.py [--nets "resnet20 mobilenet_v2"] [--widths "8 4 2"] [--epochs 1] [--threads 2] [--integer]
"""
import sys, tempfile, warnings
from pathlib import Path
from copy import deepcopy
from unittest import mock
warnings.filterwarnings('ignore')
sys.path.insert(0, str(Path(__file__).parent))
import numpy as np, torch, torch.nn as nn, pandas as pd
from fastcore.script import call_parse
from sqakd_fastai.all import *
import sqakd_fastai.onnx_export as ox
import zoo
from int8_accuracy import ort_preds

def _float_codes(w:torch.Tensor)->tuple:
    "`int8_weight`'s place in the twin: the weight itself as the 'codes', scale 1 (the student's float weights, BatchNorm folded)"
    return w.detach(),torch.ones(len(w)),True

@torch.no_grad()
def _top1(model:nn.Module, x:torch.Tensor, bs:int=500)->np.ndarray: return torch.cat([model(x[i:i+bs]) for i in range(0, len(x), bs)]).argmax(1).numpy()

@torch.no_grad()
def nudged(model:nn.Module)->nn.Module:
    "A copy of `model` whose EWGS/STE activation grids have 0 on them (lower bound a whole number of steps below 0, the step kept): the student a training that nudged its grids, as TensorFlow's fake quantization does, would give"
    m = deepcopy(model)
    for q in m.modules():
        if isinstance(q, IntervalQuantizer) and q.kind == 'act':
            n = q.levels - 1
            s = (q.upper - q.lower)/n
            lo = -torch.round(-q.lower/s)*s
            q.lower.copy_(lo); q.upper.copy_(lo + n*s)
    return m

def gap_row(learn, x:torch.Tensor, d:Path, name:str)->dict:
    "One row: the agreements of the integer model and its less integer variants with the student in `learn` on images `x`"
    m = learn.model.cpu().eval()
    calib = [tuple(t.cpu() for t in b) for b in first_inputs(learn.dls.train, ox.INT_CALIB_BATCHES)]
    ps = _top1(m, x)
    f = export_onnx(m, d/f'{name}.int8.onnx', x[:2], integer=True, calib=calib)
    po = ort_preds(f, x)
    twin,fb,mn = ox.integer_model(m, calib),ox.integer_model(m, calib, int32_bias=False),nudged(m)
    with mock.patch.object(ox, 'int8_weight', _float_codes): fw,fn = ox.integer_model(m, calib, int32_bias=False),ox.integer_model(mn, calib, int32_bias=False)
    pf = _top1(fw, x)
    for l in [*fw.modules(), *fn.modules()]:
        if isinstance(l, ox._IntLayer) and (l.out.lo, l.out.hi) == (0, 255): l.out = nn.Identity() # the 8-bit requantized sums
    agree = lambda p,ref=ps: round(float((p == ref).mean()), 4)
    p64 = _top1(deepcopy(m).double(), x.double())
    return dict(onnx_runtime=agree(po), onnx_runtime_vs_float64=agree(po, p64), twin=agree(_top1(twin, x)), float_biases=agree(_top1(fb, x)), float_weights=agree(pf), and_float_sums=agree(_top1(fw, x)),
                and_zero_on_grids=agree(_top1(fn, x), _top1(mn, x)), student_float64=agree(p64))

@call_parse
def main(nets:str='resnet20 mobilenet_v2', # names of `zoo.NETS`, space-separated
         widths:str='4 2', # WbAb, space-separated
         epochs:int=1, # label-free epochs of each student at `student_lr`
         teacher_epochs:int=10, # the zoo teachers' epochs (cached)
         n_valid:int=2_000, # test images
         threads:int=2, # torch threads
         integer:bool=False, # train `integer=True` students
        ):
    torch.set_num_threads(threads)
    x = torch.cat([b[0].as_subclass(torch.Tensor).cpu() for b in zoo.dls(n_valid=n_valid).valid])
    d,rows = Path(tempfile.mkdtemp()),[]
    for name in nets.split():
        for b in [int(v) for v in widths.split()]:
            learn = zoo.student(name, b, teacher_epochs=teacher_epochs, integer=integer)
            if epochs:
                with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(epochs, student_lr(b))
            rows.append(dict(net=name, bits=b, integer=integer, **gap_row(learn, x, d, f'{name}_w{b}')))
            print(rows[-1], flush=True)
    print(f"top-1 agreement with the fake-quantized student, {len(x)} test images; students: {epochs} label-free epoch(s); torch {torch.__version__}")
    with pd.option_context('display.width', 200, 'display.precision', 4): print(pd.DataFrame(rows).to_string(index=False))
