#!/usr/bin/env python3
"""Golden references for io.moco4j.optim and io.moco4j.loss, made with PyTorch.

Run with Debian's interpreter (it has torch):  /usr/bin/python3 tools/golden/optim.py
Writes src/test/resources/golden/optim/{sgd_*.npz, lr.json, infonce_*.npz, accuracy.npz, v3_*.npz}.
"""
import json
import math
import os
import warnings

import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(1)
warnings.filterwarnings("ignore")
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "src", "test", "resources", "golden", "optim")
os.makedirs(OUT, exist_ok=True)


def f32(t):
    return np.ascontiguousarray(t.detach().cpu().numpy().astype(np.float32))


# ---------------------------------------------------------------- SGD trajectories
STEPS = 5
LRS = [0.1, 0.1, 0.05, 0.03, 0.01]
SGD_CASES = {
    # name: (torch.optim.SGD kwargs, weight decay of the bias; None = same as the weight)
    "m09_wd1e-4": (dict(momentum=0.9, weight_decay=1e-4), None),
    "m09_wd5e-4_nesterov": (dict(momentum=0.9, weight_decay=5e-4, nesterov=True), None),
    "m09_damp01": (dict(momentum=0.9, weight_decay=1e-4, dampening=0.1), None),
    "m0_wd1e-4": (dict(momentum=0.0, weight_decay=1e-4), None),
    "m09_wd1e-2_nobiasdecay": (dict(momentum=0.9, weight_decay=1e-2), 0.0),
}


def sgd_case(name, kwargs, bias_wd):
    g = torch.Generator().manual_seed(1234)
    w0 = torch.randn(3, 4, generator=g)
    b0 = torch.randn(4, generator=g)
    gw = torch.randn(STEPS, 3, 4, generator=g)
    gb = torch.randn(STEPS, 4, generator=g)
    w = torch.nn.Parameter(w0.clone())
    b = torch.nn.Parameter(b0.clone())
    if bias_wd is None:
        opt = torch.optim.SGD([w, b], lr=LRS[0], **kwargs)
    else:
        opt = torch.optim.SGD([{"params": [w]}, {"params": [b], "weight_decay": bias_wd}], lr=LRS[0], **kwargs)
    ws, bs = [], []
    for s in range(STEPS):
        for group in opt.param_groups:
            group["lr"] = LRS[s]
        w.grad = gw[s].clone()
        b.grad = gb[s].clone()
        opt.step()
        ws.append(w.detach().clone())
        bs.append(b.detach().clone())
    out = dict(w0=f32(w0), b0=f32(b0), gw=f32(gw), gb=f32(gb), lr=np.array(LRS, np.float64),
               w=f32(torch.stack(ws)), b=f32(torch.stack(bs)))
    if kwargs.get("momentum", 0) != 0:
        out["buf_w"] = f32(opt.state[w]["momentum_buffer"])
        out["buf_b"] = f32(opt.state[b]["momentum_buffer"])
    np.savez(os.path.join(OUT, "sgd_" + name + ".npz"), **out)


for name, (kwargs, bias_wd) in SGD_CASES.items():
    sgd_case(name, kwargs, bias_wd)


# ---------------------------------------------------------------- LR schedules
def torch_epoch_lrs(make_sched, base, epochs):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=base)
    sched = make_sched(opt)
    out = []
    for _ in range(epochs):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def official_moco_lr(base, epoch, epochs, cos, schedule):
    """adjust_learning_rate of facebookresearch/moco main_moco.py."""
    lr = base
    if cos:
        lr *= 0.5 * (1.0 + math.cos(math.pi * epoch / epochs))
    else:
        for milestone in schedule:
            lr *= 0.1 if epoch >= milestone else 1.0
    return lr


lr = {
    "multistep_moco": dict(base=0.03, epochs=200, milestones=[120, 160], gamma=0.1,
                           lrs=torch_epoch_lrs(lambda o: torch.optim.lr_scheduler.MultiStepLR(o, [120, 160], 0.1), 0.03, 200),
                           official=[official_moco_lr(0.03, e, 200, False, [120, 160]) for e in range(200)]),
    "multistep_small": dict(base=0.5, epochs=10, milestones=[3, 6, 6, 8], gamma=0.5,
                            lrs=torch_epoch_lrs(lambda o: torch.optim.lr_scheduler.MultiStepLR(o, [3, 6, 6, 8], 0.5), 0.5, 10)),
    "cosine_moco": dict(base=0.06, epochs=200, min_lr=0.0,
                        lrs=torch_epoch_lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=200), 0.06, 200),
                        official=[official_moco_lr(0.06, e, 200, True, []) for e in range(200)]),
    "cosine_floor": dict(base=0.3, epochs=10, min_lr=0.001,
                         lrs=torch_epoch_lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=0.001), 0.3, 10)),
}
# Per-step cosine: the official formula evaluated at the fractional epoch epoch + i / steps_per_epoch
# (what moco-v3's adjust_learning_rate does after warm-up).
epochs, spe, base = 3, 4, 0.1
lr["cosine_per_step"] = dict(base=base, epochs=epochs, steps_per_epoch=spe,
                             lrs=[base * 0.5 * (1.0 + math.cos(math.pi * (e + i / spe) / epochs))
                                  for e in range(epochs) for i in range(spe)])
with open(os.path.join(OUT, "lr.json"), "w") as fh:
    json.dump(lr, fh, indent=1)


# ---------------------------------------------------------------- InfoNCE (MoCo v1/v2)
def moco_logits(q, k, queue_dk, t):
    """The official builder: l_pos, l_neg with a (D, K) queue, cat, / T."""
    l_pos = torch.einsum("nc,nc->n", [q, k]).unsqueeze(-1)
    l_neg = torch.einsum("nc,ck->nk", [q, queue_dk.clone().detach()])
    return torch.cat([l_pos, l_neg], dim=1) / t


def moco_loss(logits):
    return F.cross_entropy(logits, torch.zeros(logits.shape[0], dtype=torch.long))


N, D, K = 8, 16, 32
for t in (0.07, 0.2):
    g = torch.Generator().manual_seed(7 if t == 0.07 else 8)
    q_raw = torch.randn(N, D, generator=g, requires_grad=True)
    k = F.normalize(torch.randn(N, D, generator=g), dim=1)
    queue_dk = F.normalize(torch.randn(D, K, generator=g), dim=0)  # official layout (D, K)
    q = F.normalize(q_raw, dim=1)
    logits = moco_logits(q, k, queue_dk, t)
    loss = moco_loss(logits)
    loss.backward()
    # symmetric loss of the CIFAR demo notebook: loss_12 + loss_21 against the same queue
    q1_raw = torch.randn(N, D, generator=g, requires_grad=True)
    q2_raw = torch.randn(N, D, generator=g, requires_grad=True)
    k1 = F.normalize(torch.randn(N, D, generator=g), dim=1)
    k2 = F.normalize(torch.randn(N, D, generator=g), dim=1)
    sym = moco_loss(moco_logits(F.normalize(q1_raw, dim=1), k2, queue_dk, t)) \
        + moco_loss(moco_logits(F.normalize(q2_raw, dim=1), k1, queue_dk, t))
    sym.backward()
    np.savez(os.path.join(OUT, "infonce_t%s.npz" % t),
             q_raw=f32(q_raw), k=f32(k), queue=f32(queue_dk.t()), t=np.array(t, np.float64),
             logits=f32(logits), loss=np.array(loss.item(), np.float32), grad_q_raw=f32(q_raw.grad),
             q1_raw=f32(q1_raw), q2_raw=f32(q2_raw), k1=f32(k1), k2=f32(k2),
             sym_loss=np.array(sym.item(), np.float32), grad_q1_raw=f32(q1_raw.grad), grad_q2_raw=f32(q2_raw.grad))


# ---------------------------------------------------------------- accuracy (official main_moco.py accuracy())
def official_accuracy(output, target, topk=(1,)):
    with torch.no_grad():
        maxk = max(topk)
        batch_size = target.size(0)
        _, pred = output.topk(maxk, 1, True, True)
        pred = pred.t()
        correct = pred.eq(target.view(1, -1).expand_as(pred))
        return [correct[:k].reshape(-1).float().sum(0, keepdim=True).mul_(100.0 / batch_size).item() for k in topk]


g = torch.Generator().manual_seed(11)
acc_logits = torch.randn(40, 12, generator=g)  # continuous values: no ties
acc_logits[:10, 0] += 3.0  # make a good share of rows correct at top-1
np.savez(os.path.join(OUT, "accuracy.npz"), logits=f32(acc_logits),
         topk=np.array([1, 2, 5, 12], np.int64),
         acc=np.array(official_accuracy(acc_logits, torch.zeros(40, dtype=torch.long), (1, 2, 5, 12)), np.float32))


# ---------------------------------------------------------------- MoCo v3 in-batch loss
def v3_contrastive_loss(q, k, T):
    """moco-v3 builder.contrastive_loss on one device (world size 1, rank 0)."""
    q = F.normalize(q, dim=1)
    k = F.normalize(k, dim=1)
    logits = torch.einsum("nc,mc->nm", [q, k]) / T
    n = logits.shape[0]
    labels = torch.arange(n, dtype=torch.long)
    return F.cross_entropy(logits, labels) * (2 * T)


for T in (0.2, 1.0):
    g = torch.Generator().manual_seed(21 if T == 0.2 else 22)
    q1 = torch.randn(N, D, generator=g, requires_grad=True)
    q2 = torch.randn(N, D, generator=g, requires_grad=True)
    k1 = torch.randn(N, D, generator=g)
    k2 = torch.randn(N, D, generator=g)
    single = v3_contrastive_loss(q1, k2, T)
    (g1,) = torch.autograd.grad(single, [q1])
    both = v3_contrastive_loss(q1, k2, T) + v3_contrastive_loss(q2, k1, T)
    both.backward()
    np.savez(os.path.join(OUT, "v3_t%s.npz" % T), q1=f32(q1), q2=f32(q2), k1=f32(k1), k2=f32(k2),
             t=np.array(T, np.float64), loss=np.array(single.item(), np.float32), grad_q1=f32(g1),
             sym_loss=np.array(both.item(), np.float32), sym_grad_q1=f32(q1.grad), sym_grad_q2=f32(q2.grad))

print("wrote", sorted(os.listdir(OUT)))
