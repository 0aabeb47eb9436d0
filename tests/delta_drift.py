"""How far label-free EWGS's δ moves between updates while a student trains, against the spread of one
estimate: the measurement behind the default of `delta_every`.

A ResNet-20 teacher is trained with labels on Fashion-MNIST, then a W2A2 EWGS student learns from it without
labels (`fit_one_cycle` at `student_lr(2)`) with `delta='hessian', delta_every=1`: one δ update before each
epoch. Right after each update, `--repeats` more estimates at the same weights, each on another training
batch with other probes, give the spread of one estimate. Printed per update and per kind of quantizer (weights,
activations), medians over the quantizers: the relative change of δ since the previous update and since the
first, and the relative spread (standard deviation over mean) of the repeated estimates. If δ were constant,
the change between two updates would be about 1.4x that spread (two independent estimates).

    python tests/delta_drift.py [--n_train 6400] [--epochs 6] [--repeats 3] [--teacher_epochs 3] [--probes 5] [--threads N]

The table in 02a_hessian and the README was measured at 10 probes (`--probes 10`), the default before `DELTA_PROBES`.
"""
import statistics, time, warnings
warnings.filterwarnings('ignore')
from copy import deepcopy
import torch, pandas as pd
from fastcore.script import call_parse
from fastai.vision.all import Learner, Callback, CrossEntropyLossFlat, set_seed
from sqakd_fastai.all import *

class Spread(Callback):
    "Right after each δ update, `repeats` more estimates at the same weights, each on another batch with other probes"
    order = HessianDelta.order+1
    def __init__(self, repeats:int): self.repeats,self.rows = repeats,[]
    def before_train(self):
        hd = self.learn.hessian_delta
        if self.epoch % hd.every: return
        batches = first_inputs(self.learn.dls.train, 1 + self.repeats)[1:] # batch 0 is the update's own
        reps = [hessian_deltas(self.learn.model, self.learn.sqakd.distil_loss, [b], hd.max_probes, hd.tol, seed=1000*(self.epoch + 1) + r)
                for r,b in enumerate(batches)]
        self.rows.append(dict(epoch=self.epoch, update=hd.history[-1], repeats=reps))

def w2a2_student(n_train:int, teacher_epochs:int, seed:int, **kwargs):
    "(dls, a W2A2 student of a ResNet-20 teacher trained `teacher_epochs` with labels on `n_train` Fashion-MNIST images), right after `quantize(2, **kwargs)`"
    set_seed(seed)
    dls = fashion_mnist_dls(bs=128, n_train=n_train, n_valid=1000, seed=seed)
    teacher = Learner(dls, resnet20(1, 10), loss_func=CrossEntropyLossFlat())
    with teacher.no_bar(), teacher.no_logging(): teacher.fit_one_cycle(teacher_epochs, 5e-3)
    return dls,Learner(dls, deepcopy(teacher.model), loss_func=CrossEntropyLossFlat()).quantize(2, **kwargs)

def kind(name): return 'weights' if 'weight_quantizer' in name else 'activations'

@call_parse
def main(n_train:int=6400, # training images per epoch
         epochs:int=6, # student epochs (one δ update before each)
         repeats:int=3, # extra estimates after each update, for the spread of one estimate
         teacher_epochs:int=3, # full-precision teacher epochs (with labels)
         probes:int=DELTA_PROBES, # Hutchinson probes per estimate (the update's and the repeats')
         threads:int=0, # torch threads (0: torch's default)
         seed:int=0,
        ):
    if threads: torch.set_num_threads(threads)
    dls,sl = w2a2_student(n_train, teacher_epochs, seed, delta='hessian', delta_every=1)
    sl.hessian_delta.max_probes = probes
    sp = Spread(repeats)
    t0 = time.perf_counter()
    with sl.no_bar(), sl.no_logging(): sl.fit_one_cycle(epochs, student_lr(2), cbs=sp)
    names = [k for k in sp.rows[0]['update'] if k != 'epoch']
    rel = lambda a, b: abs(a - b)/abs(b) if b else float('nan')
    rows = []
    for i,r in enumerate(sp.rows):
        for kd in ('weights', 'activations'):
            ns = [n for n in names if kind(n) == kd]
            if not ns: continue
            cur,prev,first = r['update'],sp.rows[max(i - 1, 0)]['update'],sp.rows[0]['update']
            spread = [statistics.pstdev([cur[n]] + [e[n] for e in r['repeats']])/statistics.mean([cur[n]] + [e[n] for e in r['repeats']]) for n in ns]
            rows.append(dict(epoch=r['epoch'], quantizers=kd, n=len(ns), median_delta=statistics.median(cur[n] for n in ns),
                             change_since_previous=statistics.median(rel(cur[n], prev[n]) for n in ns) if i else float('nan'),
                             change_since_first=statistics.median(rel(cur[n], first[n]) for n in ns) if i else float('nan'),
                             spread_of_one_estimate=statistics.median(spread)))
    print(f"ResNet-20 W2A2 EWGS, Fashion-MNIST, {len(dls.train)} batches of 128 per epoch, {epochs} epochs, "
          f"{torch.get_num_threads()} threads; student run {time.perf_counter() - t0:.0f} s")
    with pd.option_context('display.width', 200, 'display.precision', 3): print(pd.DataFrame(rows).to_string(index=False))
