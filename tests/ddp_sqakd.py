"""SQAKD in several processes, written as a fastai user writes it. `tests/test_ddp.py` runs it as
`torchrun --standalone --nproc_per_node 2 tests/ddp_sqakd.py OUT`; each rank saves OUT/rank{RANK}.pt
with what the test compares across ranks."""
import sys, warnings
from pathlib import Path
import torch
from fastai.vision.all import *
from sqakd_fastai.all import *
from sqakd_fastai.evaluation import evaluate

warnings.filterwarnings('ignore')
out = Path(sys.argv[1])
init_distributed()                 # the group exists before any fit, the teacher's included
rank = rank_distrib()
set_seed(rank)                     # on purpose: each rank its own teacher and its own first batch
# same split everywhere; 250 = 2x125, 4 batches of 32 a rank: padded. Batches made in the rank's own process: on CI's 2 cores
# a forked DataLoader worker of rank 1 once hung right after fork (2026-11-29; py-spy: the child blocked in native code at
# fork, rank 0 waiting in DDP's buffer broadcast)
dls = fashion_mnist_dls(bs=32, n_train=512, n_valid=250, seed=0, num_workers=0)
learn = Learner(dls, get_model('resnet20', 1, 10), loss_func=CrossEntropyLossFlat(), metrics=accuracy)
with learn.no_bar(), learn.no_logging(): learn.fit(1, 5e-3)     # each rank trains its own full-precision model, alone
# 16 steps leave BatchNorm's running statistics near their initial values (the model then predicts one class in eval mode):
# fit them to the data, as a converged teacher's are, so that agreement and KL mean something
reestimate_bn(learn.model, [(x.as_subclass(torch.Tensor),) for x,_ in dls.train])
learn.quantize(bits=2, feature_weight=1., delta='hessian') # quantizers from each rank's own first batch; SQuaT's feature term and the Hessian δ on too
state = lambda m: {k: v.detach().clone() for k,v in m.state_dict().items()}
before = dict(student=state(learn.model), teacher=state(learn.sqakd.teacher))
class NaNOnRank1(Callback):
    "Rank 1 alone gets a NaN batch: every rank must skip it, or the gradient all-reduce would hang"
    order = SQAKDCallback.order-1
    def before_batch(self):
        if rank == 1 and self.training and self.epoch == 0 and self.iter == 2: self.learn.xb = (torch.full_like(self.xb[0], float('nan')),)
with learn.no_bar(), learn.distrib_ctx(sync_bn=False):
    v0 = learn.validate()
    # 4 epochs of 8 steps a rank: after 2 the one-cycle run was still climbing back from its high-lr phase on this
    # machine's CPU (2026-12-06: valid loss 0.589 -> 0.731 at 2 epochs with the Hessian delta, falling at delta=0; one process
    # shows the same dip: 0.50 -> 0.87 after epoch 0 -> 0.18 after epoch 1 at 16 steps an epoch), so 'the KL fell' hung on float noise
    learn.fit_one_cycle(4, 2e-3, cbs=NaNOnRank1())
    after = dict(student=state(learn.model), teacher=state(learn.sqakd.teacher)) # as fit left them
    last_epoch = list(map(float, learn.recorder.values[-1]))                     # train loss, valid loss, metrics
    v1 = learn.validate()                                                         # a new DDP wrap: rank 0's buffers again
single = evaluate(learn.model, learn.sqakd.teacher, dls.valid) # one process, the whole validation set, no gathering
# DDP told not to broadcast buffers: each rank's BatchNorm statistics drift apart, until the trainer copies rank 0's
from accelerate.utils import DistributedDataParallelKwargs
with learn.no_bar(), learn.no_logging(), learn.distrib_ctx(sync_bn=False, kwargs_handlers=[DistributedDataParallelKwargs(broadcast_buffers=False)]):
    learn.fit(1, 1e-4)
no_bcast = state(learn.model)
torch.save(dict(before=before, after=after, no_bcast=no_bcast, v0=list(map(float, v0)), v1=list(map(float, v1)),
                last_epoch=last_epoch, n_skipped=learn.sqakd.n_skipped, single=single, n_valid=len(dls.valid_ds),
                model_type=type(learn.model).__name__, cbs=[type(c).__name__ for c in learn.cbs]), out/f'rank{rank}.pt')
