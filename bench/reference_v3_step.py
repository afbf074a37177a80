#!/usr/bin/env python3
"""Times full MoCo v3 training steps of the official code (facebookresearch/moco-v3) on this machine.

The checkout is passed with --moco-v3 (never committed). Its MoCo_ResNet and LARS are used as they are, with the
model main_moco.py builds for a torchvision ResNet (here resnet18 with the CIFAR stem: 3x3 stride-1 conv1, no
max-pool, as MoCo4J's cifar10-v3 preset), and the step of main_moco.py's train():
    loss = model(x1, x2, m); optimizer.zero_grad(); loss.backward(); optimizer.step()
on fixed random inputs, like `./moco4j bench`. Two CPU shims, nothing else: Tensor.cuda returns the tensor
(contrastive_loss moves its labels with .cuda()), and torch.distributed is a one-process gloo group
(concat_all_gather). Under --autocast bf16 a third: gloo's all_gather has no bf16, so concat_all_gather is replaced by
what it returns on one rank (the tensor itself, as a no-grad copy). Prints one JSON line like `./moco4j bench`.
"""
import argparse
import contextlib
import json
import resource
import os
import sys
import tempfile
import time

import reference_blas
import torch
import torch.nn as nn
import torchvision


def cifar_resnet(arch, width=1.0):
    def build(num_classes, **kwargs):
        m = torchvision.models.__dict__[arch](num_classes=num_classes, **kwargs)
        m.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        m.maxpool = nn.Identity()
        return m
    return build


def autocast(kind):
    """torch.autocast on the CPU in bf16, or nothing (fp32)."""
    return torch.autocast("cpu", dtype=torch.bfloat16) if kind == "bf16" else contextlib.nullcontext()


def official_one_process(moco_v3, threads, autocast_kind):
    """The official code on one CPU process: moco-v3 importable, Tensor.cuda a no-op, a one-rank gloo group (its file
    is returned for official_close), torch seeded and on `threads` threads."""
    sys.path.insert(0, moco_v3)
    torch.Tensor.cuda = lambda self, *args, **kw: self
    import torch.distributed as dist
    init = tempfile.mktemp()
    dist.init_process_group("gloo", init_method="file://" + init, rank=0, world_size=1)
    import moco.builder
    if autocast_kind != "none":
        # one rank: all_gather + cat is the tensor itself; gloo (torch 1.13) refuses bf16 ("Invalid scalar type")
        moco.builder.concat_all_gather = torch.no_grad()(lambda t: t.clone())
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    return init


def official_close(init):
    import torch.distributed as dist
    dist.destroy_process_group()
    os.remove(init) if os.path.exists(init) else None


def official_model(vit, vit_size, dim, mlp_dim, batch, size=32, t=0.2, arch="resnet18"):
    """main_moco.py's model and optimizer, in train mode: MoCo_ViT (vits.py, patch 4, stop-grad conv1) + AdamW, or
    MoCo_ResNet (a CIFAR-stem torchvision ResNet) + LARS, each at its lr for `batch`."""
    import moco.builder
    import moco.optimizer
    if vit:
        from functools import partial
        import vits
        base = partial(vits.VisionTransformerMoCo, img_size=size, patch_size=4, embed_dim=vit_size[0],
                       depth=vit_size[1], num_heads=vit_size[2], stop_grad_conv1=True)
        model = moco.builder.MoCo_ViT(base, dim, mlp_dim, t)
        optimizer = torch.optim.AdamW(model.parameters(), 1.5e-4 * batch / 256, weight_decay=0.1)
    else:
        model = moco.builder.MoCo_ResNet(cifar_resnet(arch), dim, mlp_dim, t)
        optimizer = moco.optimizer.LARS(model.parameters(), 0.3 * batch / 256, weight_decay=1e-6, momentum=0.9)
    model.train()
    return model, optimizer


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--moco-v3", required=True, help="a facebookresearch/moco-v3 checkout")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--arch", default="resnet18")
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--mlp-dim", type=int, default=4096)
    p.add_argument("--t", type=float, default=0.2)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--vit", action="store_true",
                   help="MoCo_ViT + AdamW with MoCo4J's cpu-vit model (vits.py on timm 0.4.9 on PYTHONPATH): patch 4,"
                        " stop-grad-conv1, the size of --vit-size; use with --dim 128 --mlp-dim 1024")
    p.add_argument("--vit-size", type=int, nargs=3, default=[192, 6, 3], metavar=("WIDTH", "DEPTH", "HEADS"),
                   help="ViT width, depth and heads (default vit_cifar_tiny: 192 6 3)")
    p.add_argument("--autocast", choices=["none", "bf16"], default="none",
                   help="bf16: the forward (loss included) under torch.autocast('cpu', torch.bfloat16), as main_moco.py"
                        " runs it under torch.cuda.amp.autocast; backward and optimizer step outside, in float32")
    p.add_argument("--turns", action="store_true",
                   help="before every step wait for a line on stdin, after it print 'done WALL CPU' (bench/paired_ab.py)")
    a = p.parse_args()
    blas = reference_blas.require_fair()[0]  # refuses the netlib reference BLAS (an unfair baseline)
    init = official_one_process(a.moco_v3, a.threads, a.autocast)
    model, optimizer = official_model(a.vit, a.vit_size, a.dim, a.mlp_dim, a.batch, size=a.size, t=a.t, arch=a.arch)
    x1 = torch.randn(a.batch, 3, a.size, a.size)
    x2 = torch.randn(a.batch, 3, a.size, a.size)
    times, cpu = [], []
    for i in range(a.warmup + a.steps):
        if a.turns and not sys.stdin.readline():
            sys.exit("--turns: stdin closed before the last step")
        c0 = time.process_time()
        t0 = time.perf_counter()
        with autocast(a.autocast):
            loss = model(x1, x2, 0.99)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        float(loss)
        wall, used = time.perf_counter() - t0, time.process_time() - c0  # CPU: all threads', hardly moved by other load
        if i >= a.warmup:
            times.append(wall)
            cpu.append(used)
        if a.turns:
            print("done %.6f %.6f" % (wall, used), flush=True)
    s = sorted(times)
    median = s[len(s) // 2] if len(s) % 2 else (s[len(s) // 2 - 1] + s[len(s) // 2]) / 2
    print(json.dumps({"blas": blas, "impl": "moco-v3-official", "torch": torch.__version__, "arch": "vit_%d_%d_%d" % tuple(a.vit_size) if a.vit else a.arch,
                      "batch": a.batch,
                      "threads": torch.get_num_threads(), "precision": "fp32" if a.autocast == "none" else a.autocast,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, "img_per_s": a.batch / median,
                      "median_step_seconds": median,
                      "median_step_cpu_seconds": sorted(cpu)[len(cpu) // 2] if len(cpu) % 2 else sum(sorted(cpu)[len(cpu) // 2 - 1:len(cpu) // 2 + 1]) / 2, "step_seconds": times}))
    official_close(init)


if __name__ == "__main__":
    main()
