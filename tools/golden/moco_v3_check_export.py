#!/usr/bin/python3
"""Checks by hand that a MoCo4J `export --format moco` of a v3 run loads into the official moco-v3 code.

    /usr/bin/python3 tools/golden/moco_v3_check_export.py --moco-v3 CHECKOUT --file EXPORT.pth.tar
for the tiny golden model (tools/golden/moco_v3.py: import checkpoint_0000.pth.tar, then export it). Does what
main_moco.py --resume does (model.load_state_dict(checkpoint['state_dict']) under DDP naming,
optimizer.load_state_dict, scaler.load_state_dict) and runs one more training step; then what main_lincls.py
--pretrained does (keep module.base_encoder.* but fc, load non-strictly, only fc.weight/fc.bias missing).
Prints what it checked; exits non-zero on any mismatch.
"""
import argparse
import os
import sys
import tempfile

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moco_v3 as golden  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--moco-v3", required=True)
    ap.add_argument("--file", required=True)
    a = ap.parse_args()
    sys.path.insert(0, os.path.abspath(a.moco_v3))
    import moco.builder as builder
    import moco.optimizer as optimizer_mod
    torch.Tensor.cuda = lambda self, *args, **kw: self
    import torch.distributed as dist
    init = tempfile.mktemp()
    dist.init_process_group("gloo", init_method="file://" + init, world_size=1, rank=0)

    ckpt = torch.load(a.file, map_location="cpu")
    print("keys:", sorted(ckpt.keys()), "epoch", ckpt["epoch"], "arch", ckpt["arch"])

    class DDP(nn.Module):  # the 'module.' naming of DistributedDataParallel
        def __init__(self, m):
            super().__init__()
            self.module = m

    model = builder.MoCo_ResNet(golden.tiny_resnet18, golden.DIM, golden.MLP_DIM, 1.0)
    wrapped = DDP(model)
    wrapped.load_state_dict(ckpt["state_dict"])  # strict, as main_moco.py --resume
    optimizer = optimizer_mod.LARS(model.parameters(), 0.1, weight_decay=golden.WD, momentum=0.9)
    optimizer.load_state_dict(ckpt["optimizer"])
    # main_moco.py's GradScaler() is enabled on a GPU, and an enabled one refuses an empty state; without CUDA its
    # constructor would disable itself (then load_state_dict checks nothing), so it is told CUDA is there.
    torch.cuda.amp.grad_scaler.amp_definitely_not_available = lambda: False
    scaler = torch.cuda.amp.GradScaler()
    scaler.load_state_dict(ckpt["scaler"])
    print("GradScaler state:", scaler.state_dict())
    n_mu = sum(1 for s in optimizer.state.values() if "mu" in s)
    print("main_moco.py --resume: state_dict strict OK, LARS state with", n_mu, "momentum buffers, scaler OK")
    x1, x2 = torch.randn(golden.BATCH, 3, golden.SIZE, golden.SIZE), torch.randn(golden.BATCH, 3, golden.SIZE, golden.SIZE)
    model.train()
    loss = model(x1, x2, 0.99)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss), loss
    print("one more official training step: loss %.4f" % float(loss))

    state_dict = ckpt["state_dict"]
    for k in list(state_dict.keys()):
        if k.startswith("module.base_encoder") and not k.startswith("module.base_encoder.fc"):
            state_dict[k[len("module.base_encoder."):]] = state_dict[k]
        del state_dict[k]
    lin = golden.tiny_resnet18(num_classes=10)
    msg = lin.load_state_dict(state_dict, strict=False)
    assert set(msg.missing_keys) == {"fc.weight", "fc.bias"}, msg
    assert not msg.unexpected_keys, msg
    print("main_lincls.py --pretrained: missing only", sorted(msg.missing_keys))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
