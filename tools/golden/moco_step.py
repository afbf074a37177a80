#!/usr/bin/python3
"""End-to-end golden of the assembled MoCo v1/v2 training step (run with Debian's /usr/bin/python3, torch 1.13).

Our own plain-PyTorch MoCo, following the semantics of facebookresearch/moco (moco/builder.py) and its CIFAR-10
demo notebook (branch colab-notebook): query and key encoder (the key encoder starts as an exact copy, state
including BN buffers), a queue of K keys, and per step
  1. momentum update of the key encoder over parameters only (BN running statistics stay the key encoder's own),
  2. queries from view 1 (encoder in train mode, autograd), keys from view 2 under no_grad with the key encoder
     also in train mode (so its BN running statistics move), both L2-normalised,
  3. logits [q.k+, q.queue] / T, cross-entropy against label 0 (symmetric case: loss(q1, k2) + loss(q2, k1),
     forwards in the notebook's order q1, k2, q2, k1),
  4. zero_grad, backward, SGD step on the query encoder's parameters,
  5. enqueue this step's keys at the pointer (symmetric case: cat([k1, k2]), 8 keys a step).
No Shuffle BN: with plain BN (bn_splits 1) and one device a batch permutation does not change the keys.

Writes src/test/resources/golden/moco_step/:
  moco_step.json   hyper-parameters; per case: spec (width, head, symmetric), the state_dict keys and shapes in
                   order, losses and queue pointers after each step
  inputs.npz       step<i>/view1, step<i>/view2 (N, 3, H, W), shared by all cases
  <case>.npz       init (query state_dict incl. BN buffers, the key encoder starts as its copy), final_q, final_k:
                   each a state_dict flattened in key order into one float32 vector (num_batches_tracked as a
                   float; one archive entry per tensor would cost more than the data); queue0 and step<i>/queue
                   (after that step's enqueue) as (K, dim), one row per key
Initial weights and inputs are rounded to multiples of 1/256 and 1/32 so the archives compress well.

Width 0.025 (stages 3/6/13 wide after a 2-wide stem; no .5 ties, so Python's and Java's rounding agree) keeps the
files under 300 KB. Width 1/64 (one-channel stem) was ill-conditioned: float32 rounding alone moved its state by
1e-4. So each case is also run in float64 and must agree with the float32 run to 3e-6, a third of the Java test's
tolerance; the measured agreement is recorded in the JSON. The symmetric case uses seed 5 because seed 3 failed it.
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models import resnet as tvr

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import ScaledResNet, randomize  # noqa: E402

torch.set_num_threads(1)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src", "test", "resources", "golden",
                   "moco_step")
DIM, K, BATCH, T, M = 8, 16, 4, 0.1, 0.9
LR, SGD_MOMENTUM, WD = 0.1, 0.9, 5e-4
STEPS, SIZE = 3, 16


def encoder(width, head):
    """Narrow torchvision ResNet-18, CIFAR stem; width = fraction of torchvision's 64/128/256/512."""
    w = [max(1, round(b * width)) for b in (64, 128, 256, 512)]
    feat = w[3]
    if head == "linear":
        fc = nn.Linear(feat, DIM)
    else:  # MoCo v2 --mlp: Linear(feat, feat), ReLU, then the original fc
        fc = nn.Sequential(nn.Linear(feat, feat), nn.ReLU(), nn.Linear(feat, DIM))
    return ScaledResNet(tvr.BasicBlock, [2, 2, 2, 2], w[0], w, fc, True)


class Moco:
    def __init__(self, width, head, symmetric, seed, dtype=torch.float32):
        gen = torch.Generator().manual_seed(seed)
        self.q = encoder(width, head)
        randomize(self.q, gen)
        with torch.no_grad():
            for name, t in self.q.state_dict().items():
                if t.is_floating_point():
                    t.copy_(torch.round(t * 256) / 256)
        self.q.to(dtype)
        self.k = encoder(width, head).to(dtype)
        self.k.load_state_dict(self.q.state_dict())
        for p in self.k.parameters():
            p.requires_grad_(False)
        self.q.train()
        self.k.train()
        self.queue = F.normalize(torch.randn(K, DIM, generator=gen), dim=1).to(dtype)
        self.ptr = 0
        self.symmetric = symmetric
        self.opt = torch.optim.SGD(self.q.parameters(), lr=LR, momentum=SGD_MOMENTUM, weight_decay=WD)

    @torch.no_grad()
    def momentum_update(self):
        for pq, pk in zip(self.q.parameters(), self.k.parameters()):
            pk.mul_(M).add_(pq.detach() * (1 - M))

    def half_loss(self, im_q, im_k):
        q = F.normalize(self.q(im_q), dim=1)
        with torch.no_grad():
            k = F.normalize(self.k(im_k), dim=1)
        pos = (q * k).sum(dim=1, keepdim=True)
        neg = q @ self.queue.t()
        logits = torch.cat([pos, neg], dim=1) / T
        return F.cross_entropy(logits, torch.zeros(logits.shape[0], dtype=torch.long)), k

    @torch.no_grad()
    def enqueue(self, keys):
        n = keys.shape[0]
        assert K % n == 0
        self.queue[self.ptr:self.ptr + n] = keys
        self.ptr = (self.ptr + n) % K

    def step(self, x1, x2):
        self.momentum_update()
        if self.symmetric:
            loss12, k2 = self.half_loss(x1, x2)
            loss21, k1 = self.half_loss(x2, x1)
            loss, keys = loss12 + loss21, torch.cat([k1, k2], dim=0)
        else:
            loss, keys = self.half_loss(x1, x2)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.enqueue(keys)
        return loss.item()

    def run(self, views):
        """Steps through (view1, view2) pairs; returns the losses, queue pointers and queues after each step."""
        losses, pointers, queues = [], [], []
        dtype = self.queue.dtype
        for x1, x2 in views:
            losses.append(self.step(x1.to(dtype), x2.to(dtype)))
            pointers.append(self.ptr)
            queues.append(self.queue.clone())
        return losses, pointers, queues


def flat_state(module):
    return np.concatenate([v.detach().numpy().astype(np.float32).ravel() for v in module.state_dict().values()])


def flat64(module):
    return torch.cat([v.detach().double().ravel() for v in module.state_dict().values()])


def scaled_diff(a, b):
    """max |a - b| / max(1, max |b|): the measure the Java test uses."""
    a, b = torch.as_tensor(a).double(), torch.as_tensor(b).double()
    return float((a - b).abs().max() / max(1.0, float(b.abs().max())))


def inputs(seed):
    gen = torch.Generator().manual_seed(seed)
    return [tuple(torch.round(torch.randn(BATCH, 3, SIZE, SIZE, generator=gen) * 32) / 32 for _ in range(2))
            for _ in range(STEPS)]


def run_case(name, views, width, head, symmetric, seed):
    moco = Moco(width, head, symmetric, seed)
    arrays = {"init": flat_state(moco.q), "queue0": moco.queue.numpy().copy()}
    keys = [[k, list(v.shape)] for k, v in moco.q.state_dict().items()]
    losses, pointers, queues = moco.run(views)
    for s, queue in enumerate(queues):
        arrays["step%d/queue" % s] = queue.numpy()
    arrays["final_q"] = flat_state(moco.q)
    arrays["final_k"] = flat_state(moco.k)
    np.savez_compressed(os.path.join(OUT, name + ".npz"), **arrays)

    # Conditioning: the same run in float64. Float32 rounding alone moves the float32 run this far, so a
    # float32 re-implementation (ours) can only be expected to agree to about this much.
    ref = Moco(width, head, symmetric, seed, torch.float64)
    losses64, _, queues64 = ref.run(views)
    conditioning = {
        "loss_rel": max(abs(a - b) / abs(b) for a, b in zip(losses, losses64)),
        "queue": max(scaled_diff(a, b) for a, b in zip(queues, queues64)),
        "final_q": scaled_diff(arrays["final_q"], flat64(ref.q)),
        "final_k": scaled_diff(arrays["final_k"], flat64(ref.k)),
    }
    print(name, "float32 vs float64:", conditioning)
    assert max(conditioning.values()) < 3e-6, "ill-conditioned case %s: pick another seed or width" % name
    return {"width": width, "head": head, "symmetric": symmetric, "losses": losses, "queue_ptr": pointers,
            "float32_vs_float64": conditioning, "state_keys": keys}


def main():
    os.makedirs(OUT, exist_ok=True)
    views = inputs(100)
    np.savez_compressed(os.path.join(OUT, "inputs.npz"),
                        **{"step%d/view%d" % (s, v + 1): x.numpy() for s, pair in enumerate(views)
                           for v, x in enumerate(pair)})
    cases = {
        "v1_linear": run_case("v1_linear", views, 0.025, "linear", False, 1),
        "v2_mlp": run_case("v2_mlp", views, 0.025, "mlp", False, 2),
        "symmetric": run_case("symmetric", views, 0.025, "linear", True, 5),
    }
    meta = {"torch": torch.__version__, "dim": DIM, "K": K, "batch": BATCH, "T": T, "m": M, "lr": LR,
            "sgd_momentum": SGD_MOMENTUM, "weight_decay": WD, "steps": STEPS, "image_size": SIZE, "cases": cases}
    with open(os.path.join(OUT, "moco_step.json"), "w") as f:
        json.dump(meta, f)
    total = 0
    for f in sorted(os.listdir(OUT)):
        size = os.path.getsize(os.path.join(OUT, f))
        total += size
        print(f, size)
    print("total", total)


if __name__ == "__main__":
    main()
