"""How many of a zoo net's δ estimates the double backward leaves non-finite, and how many the finite-difference fallback
still does: one label-free epoch of an untrained zoo net (`zoo.untrained`) at W2A2, counting the Hutchinson traces that come
out NaN/inf (before the fallback) and the δ estimates that do (after it).

    python tests/delta_overflow.py                          # untrained EfficientNet-B0, 32 images, W2A2
    python tests/delta_overflow.py --net mobilenet_v2 --bits 4

The numbers of `02a_hessian` ("The double backward can also overflow") come from the first command.
"""
import math, sys, time, warnings
from pathlib import Path
import torch
from fastcore.script import call_parse
sys.path.insert(0, str(Path(__file__).resolve().parent))

@call_parse
def main(net:str='efficientnet_b0', # a net of `zoo.NETS`
         bits:int=2, # weight and activation bits
         n:int=32, # unlabeled training images (batches of 16)
         seed:int=0, # of the student's and the data's random streams
         threads:int=2, # torch threads
        ):
    torch.set_num_threads(threads)
    import sqakd_fastai.all, sqakd_fastai.hessian as H
    from fastai.vision.all import Learner, CrossEntropyLossFlat, set_seed
    from zoo import untrained, dls
    data = dls(n_train=n, n_valid=n, bs=16, unlabeled=True)
    set_seed(seed)
    learn = Learner(data, untrained(net, data.train), loss_func=CrossEntropyLossFlat()).quantize(bits, n_calib=1)
    seen = {}
    traces = H.hutchinson_traces
    def counting(*args):
        tr,k = traces(*args)
        seen['traces'] = (int((~torch.isfinite(tr)).sum()), len(tr))
        return tr,k
    deltas = H.hessian_deltas
    def counting_deltas(*args, **kwargs):
        t0 = time.time(); d = deltas(*args, **kwargs)
        seen['deltas'] = (sum(not math.isfinite(v) for v in d.values()), len(d)); seen['seconds'] = time.time() - t0
        return d
    H.hutchinson_traces,H.hessian_deltas = counting,counting_deltas
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(1, 1e-3)
    print(f"{net} W{bits}A{bits}: non-finite traces (double backward) {seen['traces'][0]} of {seen['traces'][1]}; "
          f"non-finite δ after the fallback {seen['deltas'][0]} of {seen['deltas'][1]}; update {seen['seconds']:.1f} s")
    for o in w:
        if 'overflowed' in str(o.message) or 'not finite' in str(o.message): print('warning:', str(o.message)[:200])
