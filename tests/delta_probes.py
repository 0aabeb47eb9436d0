"""How many Hutchinson probes one label-free EWGS δ update should take: the cost of one estimate against its spread.

A ResNet-20 teacher is trained with labels on Fashion-MNIST; its W2A2 EWGS student, right after `quantize` (where the
first update of a `fit` happens), gets `--repeats` estimates of δ for each number of probes, each on another
training batch of 128 with other probes. Printed per setting: the median time of one estimate, and per kind of
quantizer (weights, activations) the median over quantizers of the estimates' relative spread (standard deviation
over mean). Run it with the machine otherwise quiet: the times are wall-clock.

    python tests/delta_probes.py [--probes 10,5,3] [--repeats 5] [--n_train 6400] [--teacher_epochs 3] [--threads N]
"""
import statistics, time, warnings
warnings.filterwarnings('ignore')
import torch, pandas as pd
from fastcore.script import call_parse
from sqakd_fastai.all import *
from delta_drift import w2a2_student

@call_parse
def main(probes:str='10,5,3', # numbers of probes to compare, comma-separated
         repeats:int=5, # estimates per setting, each on its own batch with its own probes
         n_train:int=6400, # training images for the teacher
         teacher_epochs:int=3, # full-precision teacher epochs (with labels)
         threads:int=0, # torch threads (0: torch's default)
         seed:int=0,
        ):
    if threads: torch.set_num_threads(threads)
    dls,sl = w2a2_student(n_train, teacher_epochs, seed) # the same teacher and student as delta_drift.py's
    batches = first_inputs(dls.train, repeats)
    rows = []
    for k in [int(p) for p in probes.split(',')]:
        ests,times = [],[]
        for r,b in enumerate(batches):
            t0 = time.perf_counter()
            ests.append(hessian_deltas(sl.model, sl.sqakd.distil_loss, [b], max_probes=k, tol=sl.hessian_delta.tol, seed=r))
            times.append(time.perf_counter() - t0)
        vals = {n: [e[n] for e in ests] for n in ests[0]}
        spread = {n: statistics.pstdev(v)/statistics.mean(v) for n,v in vals.items() if statistics.mean(v) > 0} # δ clipped at 0 on every batch: no spread
        rows.append(dict(probes=k, seconds=round(statistics.median(times), 2),
                         **{f'spread_{kd}': round(statistics.median(v for n,v in spread.items() if ('weight_quantizer' in n) == (kd == 'weights')), 3)
                            for kd in ('weights', 'activations')}))
    print(f"ResNet-20 W2A2 EWGS right after quantize, Fashion-MNIST batches of 128, {repeats} estimates per setting, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}")
    print(pd.DataFrame(rows).to_string(index=False))
