"""The model zoo: nets users bring, built from the constructors they have, sized for Fashion-MNIST (1 channel, 28 px).

Imported by the tests (`tests/test_zoo.py`: every default on every net, quickly) and run as the measuring script
whose table the docs' zoo page shows:

    python tests/zoo.py                 # every net at W8A8, W4A4, W2A2: start agreement, then 3 label-free epochs
    python tests/zoo.py --nets "mobilenet_v2 dwsep" --widths 4 --epochs 0 --w_granularity channel

Teachers are trained once (`--teacher_epochs` one-cycle epochs on 10,000 labeled images) and kept in `SQAKD_ZOO_CACHE`
(default `~/.cache/sqakd_fastai/zoo`).
"""
from __future__ import annotations
import os, sys, time
from pathlib import Path
import torch, torch.nn as nn
from fastcore.script import call_parse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

def _stem(conv:nn.Conv2d, stride:int|None=None)->nn.Conv2d:
    "`conv` rebuilt for one input channel (Fashion-MNIST), with `stride` if given (28 px cannot lose a factor 32)"
    return nn.Conv2d(1, conv.out_channels, conv.kernel_size, stride or conv.stride, conv.padding, bias=conv.bias is not None)

def mobilenet_v2():
    import torchvision.models as tvm
    m = tvm.mobilenet_v2(num_classes=10); m.features[0][0] = _stem(m.features[0][0]); return m

def mobilenet_v3_small():
    import torchvision.models as tvm
    m = tvm.mobilenet_v3_small(num_classes=10); m.features[0][0] = _stem(m.features[0][0]); return m

def efficientnet_b0():
    import torchvision.models as tvm
    m = tvm.efficientnet_b0(num_classes=10); m.features[0][0] = _stem(m.features[0][0]); return m

def vit():
    import torchvision.models as tvm
    m = tvm.VisionTransformer(image_size=28, patch_size=4, num_layers=4, num_heads=4, hidden_dim=96, mlp_dim=192, num_classes=10)
    m.conv_proj = _stem(m.conv_proj); return m

def resnet20():
    from sqakd_fastai.models import resnet20 as r; return r(1, 10)

def dwsep():
    from sqakd_fastai.models import dwsep_cnn; return dwsep_cnn(1, 10)

NETS = dict(mobilenet_v2=mobilenet_v2, mobilenet_v3_small=mobilenet_v3_small, efficientnet_b0=efficientnet_b0,
            vit=vit, resnet20=resnet20, dwsep=dwsep)
CNNS = ('mobilenet_v2', 'mobilenet_v3_small', 'efficientnet_b0', 'resnet20', 'dwsep') # the 4-bit start goal's nets
CACHE = Path(os.environ.get('SQAKD_ZOO_CACHE', Path.home()/'.cache'/'sqakd_fastai'/'zoo'))

def dls(n_train:int=10_000, n_valid:int=2_000, bs:int=128, unlabeled:bool=False, seed:int=42):
    from sqakd_fastai.data import fashion_mnist_dls
    return fashion_mnist_dls(bs=bs, n_train=n_train, n_valid=n_valid, unlabeled=unlabeled, seed=seed, num_workers=0)

def teacher(name:str, epochs:int=3, n_train:int=10_000, cache:Path=CACHE, lr:float=3e-3)->nn.Module:
    "The zoo net `name` trained `epochs` one-cycle epochs on `n_train` labeled images (cached)"
    from fastai.vision.all import Learner, CrossEntropyLossFlat, accuracy, set_seed
    fn = Path(cache)/f'{name}-e{epochs}-n{n_train}.pth'
    set_seed(0); m = NETS[name]()
    if fn.exists(): m.load_state_dict(torch.load(fn)); return m.eval()
    t0 = time.time()
    learn = Learner(dls(n_train), m, loss_func=CrossEntropyLossFlat(), metrics=accuracy)
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(epochs, lr)
    precise_bn(m, learn.dls.train)
    fn.parent.mkdir(parents=True, exist_ok=True); torch.save(m.state_dict(), fn)
    print(f"teacher {name}: {epochs} epochs on {n_train} images in {time.time() - t0:.0f} s", flush=True)
    return m.eval()

@torch.no_grad()
def precise_bn(model:nn.Module, dl, n:int=20):
    "Running statistics of every BatchNorm as the plain average over `n` training batches: torchvision's MobileNetV3 and EfficientNet update them at momentum 0.01, so a few hundred steps leave them stale and the eval-mode teacher far from the trained one"
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    moms = [m.momentum for m in bns]
    for m in bns: m.reset_running_stats(); m.momentum = None
    model.train()
    for i,(xb,*_) in zip(range(n), dl): model(xb)
    for m,mom in zip(bns, moms): m.momentum = mom
    model.eval()

@torch.no_grad()
def untrained(name:str, dl, n:int=2)->nn.Module:
    "The zoo net `name` as built, with outputs a test can measure: BatchNorm statistics from `n` batches of `dl` and the classifier at `nn.Linear`'s own initialisation. As built, torchvision's nets give logits of 1e-10 (MobileNets, EfficientNet: running statistics at their (0, 1) start, heads at std 0.01) or exactly 0 (the ViT's zero head), so a student's KL is 0 and a test of training checks nothing"
    m = NETS[name]()
    precise_bn(m, dl, n)
    [l for l in m.modules() if isinstance(l, nn.Linear)][-1].reset_parameters()
    return m.eval()

def student(name:str, bits:int, method:str='ewgs', n_train:int=10_000, teacher_epochs:int=3, seed:int=0, **kwargs):
    "A label-free student learner of the zoo teacher `name`, quantized by the defaults (plus `kwargs`)"
    from copy import deepcopy
    from fastai.vision.all import Learner, CrossEntropyLossFlat, set_seed
    from sqakd_fastai.learner import quantize_learner
    t = teacher(name, teacher_epochs)
    set_seed(seed) # which training batches calibrate
    learn = Learner(dls(n_train, unlabeled=True), deepcopy(t), loss_func=CrossEntropyLossFlat())
    return quantize_learner(learn, bits, method=method, **kwargs)

def agreement(learn, dl=None)->dict:
    "Accuracy and teacher agreement of the student of `learn` on the labeled validation set"
    from sqakd_fastai.evaluation import evaluate
    return evaluate(learn.model, learn.sqakd.teacher, dl or dls().valid)

def rms_share(bits:int)->float: return 1/((2**bits - 1)*12**0.5) # the RMS error of rounding to a grid of 2**bits levels over the range, as a share of the range
RMS_8BIT = rms_share(8)

@torch.no_grad()
def noise_agreement(model:nn.Module, dl, rel:float=RMS_8BIT, seed:int=0)->float:
    "Agreement of `model` with itself when Gaussian noise of `rel` times each batch's range is added to the input of every Conv/Linear layer but the first and the last (those a student quantizes): how many decisions noise the size of 8-bit rounding flips, whatever the grid"
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear))][1:-1]
    g,agree,n = torch.Generator().manual_seed(seed),0,0
    def noisy(m, inp):
        x = inp[0]
        return (x + torch.randn(x.shape, generator=g)*(x.amax() - x.amin())*rel,) + tuple(inp[1:])
    model.eval()
    for xb,*_ in dl:
        y = model(xb)
        hs = [m.register_forward_pre_hook(noisy) for m in layers]
        try: z = model(xb)
        finally:
            for h in hs: h.remove()
        agree += int((y.argmax(1) == z.argmax(1)).sum()); n += len(xb)
    return agree/n

def quantized_share(model:nn.Module)->float:
    "The share of the model's weights (parameters of Conv/Linear/attention layers) that are quantized"
    from sqakd_fastai.quantizers import QuantMixin
    q = sum(m.weight.numel() for m in model.modules() if isinstance(m, QuantMixin) and m.weight_quantizer is not None)
    tot = sum(p.numel() for n,p in model.named_parameters() if p.dim() > 1 and '_quantizer.' not in n) # every weight matrix or kernel (BatchNorm/LayerNorm/bias are vectors; per-channel ranges are not weights)
    return q/tot

def measure(nets, widths, methods, epochs:int, teacher_epochs:int=3, seeds=(0,), **kwargs):
    "One row per net, width and method: teacher accuracy, start and after-run agreement and accuracy, share quantized"
    import pandas as pd
    from fastai.vision.all import set_seed
    from sqakd_fastai.training import student_lr
    rows,valid = [],dls().valid
    for n in nets:
        t_acc = None
        for b in widths:
            for meth,seed in [(m_, s_) for m_ in methods for s_ in seeds]:
                t0 = time.time()
                learn = student(n, b, meth, teacher_epochs=teacher_epochs, seed=seed, **kwargs)
                if t_acc is None:
                    from sqakd_fastai.evaluation import evaluate
                    t_acc = evaluate(learn.sqakd.teacher, learn.sqakd.teacher, valid)['accuracy']
                    t_noise = noise_agreement(learn.sqakd.teacher, valid)
                s = agreement(learn, valid)
                row = dict(net=n, bits=b, method=meth, seed=seed, teacher_acc=t_acc, teacher_noise8=t_noise, start_agree=s['teacher_agreement'], start_kl=s['kl'], start_acc=s['accuracy'],
                           quantized=quantized_share(learn.model))
                if epochs:
                    set_seed(0)
                    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(epochs, student_lr(b))
                    e = agreement(learn, valid)
                    row.update(end_agree=e['teacher_agreement'], end_acc=e['accuracy'])
                row['seconds'] = round(time.time() - t0)
                rows.append(row); print(pd.DataFrame([row]).to_string(index=False, header=len(rows) == 1, float_format='%.3f'), flush=True)
    return pd.DataFrame(rows)

def noise_table(nets, widths, teacher_epochs:int=10):
    "Per net, the teacher's agreement with itself under the noise of each width's rounding over every quantized layer's full input range (`noise_agreement`): how sensitive the net is, whatever the grid"
    import pandas as pd
    valid = dls().valid
    rows = [dict(net=n, **{f'noise{b}': noise_agreement(teacher(n, teacher_epochs), valid, rms_share(b)) for b in widths}) for n in nets]
    return pd.DataFrame(rows)

def markdown(df)->str:
    "`df` as a markdown table, floats to 3 decimals (pandas' own needs the tabulate package)"
    cell = lambda v: f'{v:.3f}' if isinstance(v, float) else str(v)
    rows = [list(df.columns), ['---']*len(df.columns)] + [[cell(v) for v in r] for r in df.itertuples(index=False)]
    return '\n'.join('| ' + ' | '.join(r) + ' |' for r in rows)

@call_parse
def main(nets:str=' '.join(NETS), # zoo nets, space-separated
         widths:str='8 4 2', # bit widths (weights and activations), space-separated
         methods:str='ewgs', # quantizers, space-separated
         epochs:int=3, # label-free one-cycle epochs at `student_lr` after the start (0: the start only)
         w_granularity:str='tensor', # weight ranges: 'tensor' or 'channel'
         feature_weight:float=0., # SQuaT's feature term (0: plain SQAKD)
         threads:int=0, # torch threads (0: torch's default)
         teacher_epochs:int=3, # the teachers' one-cycle epochs on 10,000 labeled images (each count cached apart)
         seeds:str='0', # seeds of the students' calibration batches, space-separated: one row each
         kw:str='{}', # more `quantize_learner` arguments, as a Python dict literal, e.g. "{'bn_reestimate': False}"
         noise_widths:str='', # instead of students: the teachers' agreement under each of these widths' rounding noise (`noise_table`), e.g. "8 6 5 4"
        ):
    "Measure the zoo: per net, width and method, the start and after-run agreement with the teacher"
    import ast
    if threads: torch.set_num_threads(threads)
    extra = ast.literal_eval(kw)
    if not isinstance(extra, dict): raise SystemExit(f"--kw must be a dict literal, got {kw!r}")
    twice = sorted(set(extra) & {'w_granularity', 'feature_weight', 'method', 'bits'})
    if twice: raise SystemExit(f"--kw gives {twice}, which have their own flags (--w_granularity, --feature_weight, --methods, --widths): use those")
    bad = [n for n in nets.split() if n not in NETS]
    if bad: raise SystemExit(f"unknown nets {bad}: choose from {list(NETS)}")
    if noise_widths: print(markdown(noise_table(nets.split(), [int(b) for b in noise_widths.split()], teacher_epochs))); return
    df = measure(nets.split(), [int(b) for b in widths.split()], methods.split(), epochs, teacher_epochs, [int(s) for s in seeds.split()], w_granularity=w_granularity, feature_weight=feature_weight, **extra)
    print('\n' + markdown(df))
