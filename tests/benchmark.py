"""Cost of a W2A2 SQAKD training epoch relative to the full-precision epoch of the same model.

ResNet-20 (CIFAR style) on Fashion-MNIST, batch 128, on this machine's CPU (or --device). Both epochs are
timed side by side in one run, alternating FP and SQAKD, each on the same batches; the figures are the ratio
of the medians and that of the fastest epochs (the least disturbed by other load on a shared machine). Its floor is about 1.33: SQAKD adds one teacher forward to a forward and a backward.

    python tests/benchmark.py [--n_train 12800] [--reps 3] [--method ewgs] [--bits 2] [--device cpu] [--threads N]
"""
import time, statistics, warnings
warnings.filterwarnings('ignore')
from copy import deepcopy
import torch
from fastcore.script import call_parse
from fastai.vision.all import Learner, Callback, CrossEntropyLossFlat, set_seed
from sqakd_fastai.all import *

class TrainTimer(Callback):
    "Wall time of the training phase of each epoch (validation excluded)"
    order = 100
    def before_fit(self): self.times = []
    def before_train(self): self._sync(); self.t0 = time.perf_counter()
    def after_train(self): self._sync(); self.times.append(time.perf_counter() - self.t0)
    def _sync(self):
        if torch.cuda.is_available() and next(self.learn.model.parameters()).is_cuda: torch.cuda.synchronize()

def epoch_time(learn):
    t = TrainTimer()
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3, cbs=t)
    return t.times[0]

@call_parse
def main(n_train:int=12_800, # training images per epoch (the full set is 60,000)
         reps:int=3, # timed epochs of each kind (after one warm-up each)
         method:str='ewgs', # quantizer method
         bits:int=2, # weight and activation bits
         device:str='cpu', # 'cpu' or 'cuda'
         threads:int=0, # torch threads (0: torch's default)
         path:str=None, # folder with Fashion-MNIST's IDX files (default: Debian's)
        ):
    if threads: torch.set_num_threads(threads)
    set_seed(0)
    dls = fashion_mnist_dls(bs=128, n_train=n_train, n_valid=256, device=torch.device(device), **({'path': path} if path else {}))
    fp = Learner(dls, resnet20(1, 10).to(device), loss_func=CrossEntropyLossFlat())
    q = Learner(dls, deepcopy(fp.model), loss_func=CrossEntropyLossFlat()).quantize(bits, method=method)
    epoch_time(fp); epoch_time(q)  # warm-up
    t_fp, t_q = [], []
    for _ in range(reps): t_fp.append(epoch_time(fp)); t_q.append(epoch_time(q))
    mf, mq = statistics.median(t_fp), statistics.median(t_q)
    print(f"ResNet-20, Fashion-MNIST, {len(dls.train)} batches of 128, {device}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"FP epoch    {mf:7.2f} s   (runs: {', '.join(f'{t:.2f}' for t in t_fp)})")
    print(f"W{bits}A{bits} {method} SQAKD epoch {mq:7.2f} s   (runs: {', '.join(f'{t:.2f}' for t in t_q)})")
    print(f"ratio SQAKD/FP = {mq/mf:.3f} of the medians, {min(t_q)/min(t_fp):.3f} of the fastest epochs"
          "   (floor ~1.33: one extra teacher forward; target <= 1.4)")
