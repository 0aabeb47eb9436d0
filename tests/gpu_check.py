"""Checks that need a CUDA GPU, which CI never has (run them on a lent GPU machine):
the fused quantizer's gradients on CUDA in float32 and float16, and a mixed-precision (`to_fp16`)
SQAKD run in which the teacher runs inside the student's autocast.

    python tests/gpu_check.py [FASHION_MNIST_FOLDER]
"""
import sys, math, warnings
warnings.filterwarnings('ignore')
import torch
from fastai.vision.all import Learner, accuracy, set_seed
from fastai.callback.core import Callback
from sqakd_fastai.all import *

assert torch.cuda.is_available(), "no CUDA device"
print(torch.cuda.get_device_name(), 'torch', torch.__version__)

# 1. IntervalQuant on CUDA: the same gradients as the composable formula, float32 and float16
for dtype, tol in ((torch.float32, 1e-4), (torch.float16, 2e-2)):
    torch.manual_seed(0)
    x = torch.randn(64, 32, 14, 14, device='cuda').relu().to(dtype).requires_grad_()
    g = torch.randn_like(x)
    q = EWGSQuantizer(2, 'act', delta=0.1).cuda().initialise(x.float())
    y = q(x); y.backward(g)
    l, u = q.lower.detach(), q.upper.detach()
    xf, gf = x.detach().float(), g.float()
    xn = (xf - l)/(u - l)
    r = (y.detach().float() - l)/(u - l) # the codes the kernel chose: half arithmetic resolves a few boundary cases differently
    assert torch.isclose(r, (xn*3).clamp(0, 3).round()/3, atol=1e-3).float().mean() > 0.995
    inside = (xf > l) & (xf < u)
    rho = 1 + 0.1*gf.sign()*(xn - r)
    assert y.dtype == dtype
    # in float16 a few elements sit on a rounding or clipping boundary that half and float resolve differently
    close = torch.isclose(x.grad.float(), torch.where(inside, gf*rho, 0.), atol=tol*10, rtol=tol)
    assert close.float().mean() > (0.9999 if dtype == torch.float32 else 0.995), (dtype, close.float().mean())
    gu = (torch.where(inside, gf*(r - xn*rho), 0.) + torch.where(xf >= u, gf, 0.)).sum()
    assert math.isclose(q.upper.grad.item(), gu.item(), rel_tol=tol*5, abs_tol=tol*50), (dtype, q.upper.grad.item(), gu.item())
    print(f'IntervalQuant on CUDA, {dtype}: gradients match the formula ({close.float().mean().item():.5f} of elements)')

# 2. to_fp16: teacher inside the student's autocast, finite losses, the student learns
path = sys.argv[1] if len(sys.argv) > 1 else FMNIST_DEBIAN
set_seed(0)
dls = fashion_mnist_dls(bs=128, n_train=8192, n_valid=2000, path=path, device=torch.device('cuda'))
learn = Learner(dls, resnet20(1, 10), metrics=accuracy).to_fp16()
with learn.no_bar(): learn.fit_one_cycle(3, 5e-3)
fp_acc = learn.validate()[1]
learn.quantize(2)
class Spy(Callback):
    "Records the dtype of the teacher's logits after the loss"
    order = SQAKDCallback.order + 1
    def after_loss(self): self.dtype = self.learn.sqakd.t_logits.dtype
spy = Spy()
with learn.no_bar(): learn.fit_one_cycle(3, 2e-3, cbs=spy)
loss, acc, agree = learn.validate()
assert spy.dtype == torch.float16, spy.dtype
assert math.isfinite(loss) and agree > 0.5, (loss, agree)
print(f'to_fp16 on CUDA: FP teacher {fp_acc:.4f}, W2A2 SQAKD student {acc:.4f}, teacher agreement {agree:.4f}, valid KL {loss:.4f}')
print('GPU checks passed')
