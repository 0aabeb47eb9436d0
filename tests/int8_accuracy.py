"""Accuracy of the integer ONNX student (`export_onnx(..., integer=True)`) beside the fake-quantized student it is
exported from, and beside ONNX Runtime's own post-training quantization of the FP32 teacher (what a user would
pick instead; at 8 and 4 bits, the widths it offers), at W8A8, W4A4 and W2A2.

Fashion-MNIST (Debian's copy), the paper's ResNet-20: the FP32 teacher trained with labels, each student distilled
from it label-free with the library's defaults, as `sqakd_train` does (here with fewer images and epochs). The
integer graph and the PTQ model are calibrated on the same first training batches (`INT_CALIB_BATCHES`). Prints the
accuracy on the test images, each ONNX model's top-1 agreement with the model it comes from, and file bytes.
`--integer` trains each student with `integer=True` (the student that its integer graph computes) as well, beside
the default one, from the same teacher.

    python tests/int8_accuracy.py [--n_train 10000] [--epochs 2] [--bits 8,4,2] [--n_valid 10000] [--integer]
"""
import sys, tempfile, warnings
from pathlib import Path
from copy import deepcopy
warnings.filterwarnings('ignore')
import numpy as np, torch, pandas as pd
from fastcore.script import call_parse
from fastai.learner import Learner
from fastai.losses import CrossEntropyLossFlat
from fastai.metrics import accuracy
from fastai.torch_core import set_seed
from sqakd_fastai.all import *
from sqakd_fastai.onnx_export import INT_CALIB_BATCHES
sys.path.insert(0, str(Path(__file__).parent))
from bench_deploy import ort_ptq

def ort_preds(fname, x, bs=500):
    "Top-1 predictions of the ONNX model in `fname` on images `x`"
    sess = onnx_session(fname)
    name = sess.get_inputs()[0].name
    return np.concatenate([sess.run(None, {name: x[i:i+bs].numpy()})[0].argmax(1) for i in range(0, len(x), bs)])

@call_parse
def main(n_train:int=10_000, # training images (teacher and students)
         epochs:int=2, # epochs of the teacher and of each student
         bits:str='8,4,2', # the students' widths (WbAb)
         n_valid:int=10_000, # test images the accuracies are measured on
         seed:int=42, # random seed
         integer:bool=False, # also train each student with `integer=True`
        ):
    set_seed(seed)
    dls = fashion_mnist_dls(bs=128, n_train=n_train, n_valid=n_valid, seed=seed)
    x = torch.cat([b[0].as_subclass(torch.Tensor).cpu() for b in dls.valid]); y = torch.cat([b[1].cpu() for b in dls.valid]).numpy()
    calib = first_inputs(dls.train, INT_CALIB_BATCHES)
    d = Path(tempfile.mkdtemp())
    tl = Learner(dls, resnet20(1, 10), loss_func=CrossEntropyLossFlat(), metrics=accuracy)
    with tl.no_bar(), tl.no_logging(): tl.fit_one_cycle(epochs, 5e-3)
    teacher = tl.model.cpu().eval()
    with torch.no_grad(): pt = teacher(x).argmax(1).numpy()
    ff = d/'teacher.onnx'
    torch.onnx.export(teacher, (x[:2],), dynamo=True, dynamic_shapes=({0: torch.export.Dim('batch', min=1)},), verbose=False).save(str(ff))
    rows = [dict(model='FP32 teacher (PyTorch)', accuracy=(pt == y).mean(), agreement=1., of='itself', file_bytes=ff.stat().st_size)]
    for pb in (8, 4): # ONNX Runtime quantizes to 8 or 4 bits (QInt4/QUInt4, run by its reference kernels): nothing narrower
        fptq = ort_ptq(ff, [b[0].cpu() for b in calib], pb)
        pq = ort_preds(fptq, x)
        rows.append(dict(model=f"FP32 teacher → ONNX Runtime W{pb}A{pb} PTQ (quantize_static)", accuracy=(pq == y).mean(), agreement=(pq == pt).mean(), of='teacher', file_bytes=fptq.stat().st_size))
    for b,integ in [(int(v), i) for v in bits.split(',') for i in ((False, True) if integer else (False,))]:
        set_seed(seed)
        sl = Learner(dls, deepcopy(teacher), loss_func=CrossEntropyLossFlat()).quantize(b, integer=integ)
        with sl.no_bar(), sl.no_logging(): sl.fit_one_cycle(epochs, student_lr(b))
        tag = f'W{b}A{b} SQAKD student' + (', integer=True' if integ else '')
        fi = export_onnx(sl, d/f'student_w{b}{"i" if integ else ""}.int8.onnx', integer=True)
        fq = export_quantized(sl, d/f'student_w{b}{"i" if integ else ""}.sqakd')
        with torch.no_grad(): ps = sl.model.cpu().eval()(x).argmax(1).numpy()
        pi = ort_preds(fi, x)
        rows += [dict(model=f'{tag}, fake-quantized (PyTorch)', accuracy=(ps == y).mean(), agreement=(ps == pt).mean(), of='teacher', file_bytes=fq.stat().st_size),
                 dict(model=f'{tag}, integer ONNX (ONNX Runtime)', accuracy=(pi == y).mean(), agreement=(pi == ps).mean(), of='student', file_bytes=fi.stat().st_size)]
        print(rows[-2:], flush=True)
    df = pd.DataFrame(rows)
    print(f"ResNet-20, Fashion-MNIST: {n_train} training images, {epochs} epochs each, {len(x)} test images; torch {torch.__version__}")
    with pd.option_context('display.width', 200, 'display.precision', 4): print(df.to_string(index=False))
    return df
