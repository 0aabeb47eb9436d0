"""One layer of a zoo student under the microscope (the zoo page's EfficientNet-B0 diagnosis):

    python tests/zoo_inspect.py --net efficientnet_b0 --layer features.8.0 --bn features.8.1 --teacher_epochs 10 --seeds "0 3"

prints the layer's input statistics on the first four test batches (1,024 images), then per seed of the calibration batches its activation range, how much of the
teacher's variance the student keeps at the BatchNorm `--bn` on the calibration batches (the ratio `bn_reestimate` corrects by),
and the start agreement and KL on 2,000 test images. `--noise` also prints the teacher's agreement under Gaussian noise of those
shares of each quantized layer's input range (`zoo.noise_agreement`)."""
from __future__ import annotations
import sys
from pathlib import Path
import torch
from fastcore.script import call_parse
sys.path.insert(0, str(Path(__file__).parent))
import zoo

@call_parse
def main(net:str='efficientnet_b0', # a zoo net
         layer:str='features.8.0', # a quantized layer of it
         bn:str='features.8.1', # a BatchNorm after it ('' for none)
         bits:int=8, # weight and activation bits
         teacher_epochs:int=10, # the teacher's epochs (cached by `zoo.teacher`)
         seeds:str='0 3', # seeds of the calibration batches
         noise:str='', # shares of the range, space-separated, for `zoo.noise_agreement` (e.g. "0.001 0.003 0.01")
         threads:int=1, # torch threads
        ):
    import sqakd_fastai.learner as L
    from sqakd_fastai.calibration import bn_input_stats
    from sqakd_fastai.evaluation import evaluate
    torch.set_num_threads(threads)
    t,valid = zoo.teacher(net, teacher_epochs),zoo.dls().valid
    xs = torch.cat([b[0] for _,b in zip(range(4), valid)])
    seen = []
    h = dict(t.named_modules())[layer].register_forward_pre_hook(lambda m,i: seen.append(i[0]))
    with torch.no_grad(): t(xs)
    h.remove(); x = seen[0]
    print(f"{net} {layer} input on {len(xs)} test images: std {float(x.std()):.2f}, min {float(x.min()):.2f}, max {float(x.max()):.2f}")
    for r in [float(v) for v in noise.split()]: print(f"teacher agreement under noise of {r:g} of each range: {zoo.noise_agreement(t, valid, r):.3f}")
    for seed in [int(s) for s in seeds.split()]:
        ratios = {}
        if bn:
            orig = L.reestimate_bn
            def spy(model, batches, reference=None):
                sq,sf = bn_input_stats(model, batches),bn_input_stats(reference, batches)
                ratios['v'] = sq[bn][1]/sf[bn][1].clamp_min(1e-12)
                return orig(model, batches, reference)
            L.reestimate_bn = spy
        try: learn = zoo.student(net, bits, teacher_epochs=teacher_epochs, seed=seed)
        finally:
            if bn: L.reestimate_bn = orig
        q = dict(learn.model.named_modules())[layer].act_quantizer
        e = evaluate(learn.model, learn.sqakd.teacher, valid)
        line = f"seed {seed}: activation range [{float(q.lower):.2f}, {float(q.upper):.2f}]"
        if bn: line += f", student/teacher variance at {bn}: min {float(ratios['v'].min()):.2f}, median {float(ratios['v'].median()):.2f}"
        print(line + f"; start agreement {e['teacher_agreement']:.3f}, KL {e['kl']:.3f}", flush=True)
