"""Cost of a W2A2 SQAKD training epoch relative to the full-precision epoch of the same model.

ResNet-20 (CIFAR style) on Fashion-MNIST, batch 128, on this machine's CPU (or --device). The epochs are
timed side by side in one run, alternating FP and SQAKD (and, with --variants, SQAKD with the teacher run as it
is, SQAKD with the compiled activation kernels, and SQAKD with EWGS's δ fixed at 0 as in the paper's code instead of the
label-free update that is the default; with --squat, SQAKD with SQuaT's feature term), each on the
same batches; with --hessian, one label-free EWGS δ update (`HessianDelta.update` at its defaults) is timed after
each round and given as a share of the SQAKD epoch (a default EWGS learner also updates δ before each timed epoch,
outside the epoch's time). For each SQAKD learner the table
gives the ratio of its median epoch to the FP median, the median of the ratios of neighbouring pairs (each FP
epoch and the SQAKD epochs right after it: robust to slow drifts in the machine's load), the ratio of the fastest
epochs (the least disturbed), and the ratio of the median process CPU times (which time taken by other virtual
machines on a shared host does not inflate). The floor is about 1.33: SQAKD adds one teacher forward to a
forward and a backward.

    python tests/benchmark.py [--n_train 12800] [--reps 3] [--method ewgs] [--bits 2] [--device cpu] [--threads N] [--variants] [--squat] [--hessian]
"""
import time, statistics, warnings
warnings.filterwarnings('ignore')
from copy import deepcopy
import torch, pandas as pd
from fastcore.script import call_parse
from fastai.vision.all import Learner, Callback, CrossEntropyLossFlat, set_seed
from sqakd_fastai.all import *

class TrainTimer(Callback):
    "Wall time and process CPU time of the training phase of each epoch (validation excluded)"
    order = 100
    def before_fit(self): self.times,self.cpu = [],[]
    def before_train(self): self._sync(); self.t0,self.c0 = time.perf_counter(),time.process_time()
    def after_train(self):
        self._sync(); self.times.append(time.perf_counter() - self.t0); self.cpu.append(time.process_time() - self.c0)
    def _sync(self):
        if torch.cuda.is_available() and next(self.learn.model.parameters()).is_cuda: torch.cuda.synchronize()

def epoch_time(learn):
    "(wall, CPU) seconds of one training epoch"
    t = TrainTimer()
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3, cbs=t)
    return t.times[0],t.cpu[0]

@call_parse
def main(n_train:int=12_800, # training images per epoch (the full set is 60,000)
         reps:int=3, # timed epochs of each kind (after one warm-up each)
         method:str='ewgs', # quantizer method
         bits:int=2, # weight and activation bits
         device:str='cpu', # 'cpu' or 'cuda'
         threads:int=0, # torch threads (0: torch's default)
         path:str=None, # folder with Fashion-MNIST's IDX files (default: Debian's)
         variants:bool=False, # also time SQAKD with the teacher as it is (`fuse_teacher=False`), with `compiled=True`, and (EWGS) with `delta=0.`
         squat:bool=False, # also time SQuaT (`feature_weight=1.`), and print its cost relative to SQAKD
         hessian:bool=False, # also time one δ update of `delta='hessian'` (EWGS), relative to the SQAKD epoch
        ):
    if threads: torch.set_num_threads(threads)
    set_seed(0)
    dls = fashion_mnist_dls(bs=128, n_train=n_train, n_valid=256, device=torch.device(device), **({'path': path} if path else {}))
    fp = Learner(dls, resnet20(1, 10).to(device), loss_func=CrossEntropyLossFlat())
    sq = lambda **kw: Learner(dls, deepcopy(fp.model), loss_func=CrossEntropyLossFlat()).quantize(bits, method=method, **kw)
    name = f"W{bits}A{bits} {method} SQAKD"
    learners = {'FP32': fp, name: sq()}
    if variants:
        learners.update({f"{name}, teacher as it is": sq(fuse_teacher=False), f"{name}, compiled": sq(compiled=True)})
        if method == 'ewgs': learners[f"{name}, delta=0"] = sq(delta=0.) # the default sets δ > 0 (EWGS's backward) before each fit
    if squat: learners[f"W{bits}A{bits} {method} SQuaT"] = sq(feature_weight=1.)
    for l in learners.values(): epoch_time(l) # warm-up (and compilation)
    hd = sq(delta='hessian').hessian_delta if hessian else None
    wall,cpu,upd = {k: [] for k in learners},{k: [] for k in learners},[]
    for _ in range(reps):
        for k,l in learners.items(): a,b = epoch_time(l); wall[k].append(a); cpu[k].append(b)
        if hd is not None: t0 = time.perf_counter(); hd.update(); upd.append(time.perf_counter() - t0)
    med = lambda v: statistics.median(v)
    f,fc = wall['FP32'],cpu['FP32']
    rows = [dict(learner=k, median_s=round(med(w), 2), runs_s=', '.join(f'{t:.2f}' for t in w),
                 ratio_medians=round(med(w)/med(f), 3), ratio_pairs=round(med(a/b for a,b in zip(w, f)), 3),
                 ratio_fastest=round(min(w)/min(f), 3), ratio_cpu=round(med(cpu[k])/med(fc), 3)) for k,w in wall.items()]
    print(f"ResNet-20, Fashion-MNIST, {len(dls.train)} batches of 128, {device}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    with pd.option_context('display.width', 250, 'display.max_colwidth', 80): print(pd.DataFrame(rows).to_string(index=False))
    print(f"ratio SQAKD/FP = {rows[1]['ratio_medians']:.3f} of the medians (floor ~1.33: one extra teacher forward; target <= 1.4)")
    if squat:
        sw,sc = wall[f"W{bits}A{bits} {method} SQuaT"],cpu[f"W{bits}A{bits} {method} SQuaT"]
        print(f"ratio SQuaT/SQAKD = {med(sw)/med(wall[name]):.3f} of the medians, {med(sc)/med(cpu[name]):.3f} of CPU time (target <= 1.05)")
    if hessian:
        print(f"one delta update ({hd.n_batches} batch, at most {hd.max_probes} probes: {', '.join(f'{t:.2f}' for t in upd)} s) = "
              f"{med(upd)/med(wall[name]):.3f} of a SQAKD epoch of {len(dls.train)} batches, medians (target <= 0.10)")
