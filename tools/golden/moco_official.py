#!/usr/bin/python3
"""Golden files for `moco4j import/export`: an official-layout MoCo v1 checkpoint after real SGD steps.

Run with Debian's torch 1.13: /usr/bin/python3 tools/golden/moco_official.py
Writes src/test/resources/golden/moco_official/.

The checkpoint has what facebookresearch/moco main_moco.py saves: {'epoch', 'arch', 'state_dict' (DDP
'module.' prefix: encoder_q.*, encoder_k.*, queue (dim, K), queue_ptr), 'optimizer' (SGD over
model.parameters(): encoder_q then encoder_k parameters, the key encoder's without gradients and thus
without momentum buffers)}. The training step below is written for this file (InfoNCE over the queue,
momentum update, enqueue) so the optimizer state and queue pointer are not trivial.
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from interop import BasicBlock, NarrowResNet, randomize_bn  # noqa: E402

torch.set_num_threads(1)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src", "test", "resources", "golden",
                   "moco_official")
os.makedirs(OUT, exist_ok=True)
DIM, K, BATCH, T, M = 8, 16, 4, 0.07, 0.999


class Moco(nn.Module):
    """The official MoCo module's state: two encoders, the (dim, K) queue and its pointer."""

    def __init__(self):
        super().__init__()
        self.encoder_q = NarrowResNet(BasicBlock, [2, 2, 2, 2], base=2, num_classes=DIM)
        self.encoder_k = NarrowResNet(BasicBlock, [2, 2, 2, 2], base=2, num_classes=DIM)
        randomize_bn(self.encoder_q, 12)
        self.encoder_k.load_state_dict(self.encoder_q.state_dict())
        for p in self.encoder_k.parameters():
            p.requires_grad = False
        self.register_buffer("queue", F.normalize(torch.randn(DIM, K), dim=0))
        self.register_buffer("queue_ptr", torch.zeros(1, dtype=torch.long))


class Ddp(nn.Module):
    """Stands in for DistributedDataParallel: only its 'module.' key prefix matters here."""

    def __init__(self, module):
        super().__init__()
        self.module = module


def train_step(moco, optimizer, x1, x2):
    q = F.normalize(moco.encoder_q(x1), dim=1)
    with torch.no_grad():
        for pq, pk in zip(moco.encoder_q.parameters(), moco.encoder_k.parameters()):
            pk.mul_(M).add_(pq.detach(), alpha=1 - M)
        k = F.normalize(moco.encoder_k(x2), dim=1)
    logits = torch.cat([(q * k).sum(1, keepdim=True), q @ moco.queue.clone().detach()], dim=1) / T
    loss = F.cross_entropy(logits, torch.zeros(len(x1), dtype=torch.long))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        ptr = int(moco.queue_ptr)
        moco.queue[:, ptr:ptr + len(k)] = k.T
        moco.queue_ptr[0] = (ptr + len(k)) % K
    return float(loss)


def main():
    torch.manual_seed(21)
    moco = Moco()
    model = Ddp(moco)
    optimizer = torch.optim.SGD(model.parameters(), 0.03, momentum=0.9, weight_decay=1e-4)
    g = torch.Generator().manual_seed(22)
    moco.train()
    losses = [train_step(moco, optimizer, torch.randn(BATCH, 3, 32, 32, generator=g),
                         torch.randn(BATCH, 3, 32, 32, generator=g)) for _ in range(3)]
    ckpt = {"epoch": 3, "arch": "resnet18", "state_dict": model.state_dict(), "optimizer": optimizer.state_dict()}
    # Legacy (non-zip) format as the released 2020 checkpoints, and 5x smaller than the zip format here.
    torch.save(ckpt, os.path.join(OUT, "moco_v1_trained.pth.tar"), _use_new_zipfile_serialization=False)

    moco.eval()
    x = torch.randn(2, 3, 32, 32, generator=g)
    with torch.no_grad():
        out_q = moco.encoder_q(x)
        out_k = moco.encoder_k(x)
    expected = {"input": x, "output_q": out_q, "output_k": out_k, "queue": moco.queue, "queue_ptr": moco.queue_ptr}
    for name in ["conv1.weight", "fc.weight", "layer4.1.bn2.running_var"]:
        expected["q." + name] = moco.encoder_q.state_dict()[name]
        expected["k." + name] = moco.encoder_k.state_dict()[name]
    named = dict(moco.encoder_q.named_parameters())
    for name in ["conv1.weight", "fc.bias", "layer3.0.downsample.1.weight", "layer4.1.bn2.weight"]:
        expected["momentum." + name] = optimizer.state[named[name]]["momentum_buffer"]
    np.savez(os.path.join(OUT, "moco_v1_trained_expected.npz"), **{k: v.detach().numpy() for k, v in expected.items()})
    with open(os.path.join(OUT, "moco_v1_trained.json"), "w") as f:
        json.dump({"epoch": 3, "arch": "resnet18", "dim": DIM, "K": K, "queue_ptr": int(moco.queue_ptr),
                   "base_width": 2, "cifar_stem": False, "head": "linear",
                   "q_parameters": len(named), "k_parameters": len(list(moco.encoder_k.parameters())),
                   "momentum_buffers": len(optimizer.state_dict()["state"]),
                   "lr": 0.03, "momentum": 0.9, "weight_decay": 1e-4, "losses": losses}, f, indent=1)
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print("wrote", len(os.listdir(OUT)), "files,", total, "bytes, into", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
