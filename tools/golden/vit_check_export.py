#!/usr/bin/python3
"""Checks by hand that MoCo4J's exports of a ViT run load into timm 0.4.9 / vits.py and into the official MoCo_ViT.

For the tiny golden ViT (tools/golden/vit.py: img 16, patch 4, D 16, depth 2, 2 heads), imported with
    ./moco4j import --from src/test/resources/golden/vit/checkpoint.pth.tar --out RUN --set model.vit_heads=2
and exported with `--format torchvision` (BACKBONE) and `--format moco` (MOCO):
    PYTHONPATH=TIMM:MOCO_V3 /usr/bin/python3 tools/golden/vit_check_export.py --backbone BACKBONE --moco MOCO
Loads the backbone non-strictly into vits.VisionTransformerMoCo (only timm's classifier head.weight/head.bias may be
missing, as main_lincls.py expects), then resumes the moco file as main_moco.py --resume does (strict state_dict
under DDP naming, AdamW load_state_dict) and runs one official training step.
"""
import argparse
import tempfile
from functools import partial

import torch
import torch.distributed as dist

import moco.builder
import vits


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--backbone", required=True)
    ap.add_argument("--moco", required=True)
    a = ap.parse_args()
    vit = partial(vits.VisionTransformerMoCo, img_size=16, patch_size=4, embed_dim=16, depth=2, num_heads=2)
    msg = vit(num_classes=10).load_state_dict(torch.load(a.backbone), strict=False)
    assert set(msg.missing_keys) == {"head.weight", "head.bias"} and not msg.unexpected_keys, msg
    print("timm/vits backbone: missing only", sorted(msg.missing_keys))

    torch.Tensor.cuda = lambda self, *args, **kw: self
    dist.init_process_group("gloo", init_method="file://" + tempfile.mktemp(), world_size=1, rank=0)
    ck = torch.load(a.moco)
    model = moco.builder.MoCo_ViT(partial(vit, stop_grad_conv1=True), 16, 32, 0.2)

    class DDP(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.module = m

    DDP(model).load_state_dict(ck["state_dict"])
    opt = torch.optim.AdamW(model.parameters(), 1e-4, weight_decay=0.1)
    opt.load_state_dict(ck["optimizer"])
    loss = model(torch.randn(4, 3, 16, 16), torch.randn(4, 3, 16, 16), 0.99)
    opt.zero_grad()
    loss.backward()
    opt.step()
    print("main_moco.py --resume: strict state_dict, AdamW state of %d parameters, one step, loss %.4f"
          % (len(opt.state_dict()["state"]), float(loss)))


if __name__ == "__main__":
    main()
