#!/usr/bin/env python3
"""Times one full MoCo training step of the official PyTorch reference on this machine.

The reference is the official single-device MoCo builder from facebookresearch/moco's CIFAR-10 demo
notebook (branch colab-notebook, colab/moco_cifar10_demo.ipynb: SplitBatchNorm, ModelBase, ModelMoCo).
We do not ship that code: pass the notebook with --notebook; this script executes its model cells
(with .cuda() calls removed) and times `loss = model(im1, im2); zero_grad; backward; SGD step`
on random 32x32 inputs, like bench/run-step-benchmark.sh's Java side.

Prints one JSON line: {"impl": "pytorch-reference", "batch": B, "precision": P, "peak_rss_mb": M, "img_per_s": ...,
"step_seconds": [...]}.
"""
import argparse
import contextlib
import json
import resource
import re
import sys
import time

import reference_blas
import torch


def load_reference(notebook, stem_width=64):
    """The notebook's ModelMoCo class; stem_width replaces the 64 output channels its CIFAR conv1 hard-codes."""
    with open(notebook) as f:
        nb = json.load(f)
    cells = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    wanted = [c for c in cells if "class SplitBatchNorm" in c or "class ModelMoCo" in c]
    if len(wanted) != 2:
        raise SystemExit("could not find the SplitBatchNorm and ModelMoCo cells in " + notebook)
    code = "\n".join(wanted)
    code = code.split("# create model")[0]  # the cell ends by building a CUDA model; we build our own
    code = re.sub(r"\.cuda\(\)", "", code)
    code = code.replace("nn.Conv2d(3, 64,", "nn.Conv2d(3, %d," % stem_width)
    env = {}
    exec("import torch\nimport torch.nn as nn\nfrom functools import partial\nfrom torchvision.models import resnet\n"
         + code, env)
    return env["ModelMoCo"]


def autocast(kind):
    """torch.autocast on the CPU in bf16, or nothing (fp32)."""
    return torch.autocast("cpu", dtype=torch.bfloat16) if kind == "bf16" else contextlib.nullcontext()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--notebook", required=True)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--bn-splits", type=int, default=8)
    p.add_argument("--queue", type=int, default=4096)
    p.add_argument("--autocast", choices=["none", "bf16"], default="none",
                   help="bf16: the forward (loss included) under torch.autocast('cpu', torch.bfloat16), as main_moco.py"
                        " runs it under torch.cuda.amp.autocast; backward and optimizer step outside, in float32")
    p.add_argument("--turns", action="store_true",
                   help="before every step wait for a line on stdin, after it print 'done WALL CPU' (bench/paired_ab.py)")
    a = p.parse_args()
    blas = reference_blas.require_fair()[0]  # refuses the netlib reference BLAS (an unfair baseline)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    ModelMoCo = load_reference(a.notebook)
    model = ModelMoCo(dim=128, K=a.queue, m=0.99, T=0.1, arch="resnet18", bn_splits=a.bn_splits, symmetric=False)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.06, weight_decay=5e-4, momentum=0.9)
    im1 = torch.randn(a.batch, 3, 32, 32)
    im2 = torch.randn(a.batch, 3, 32, 32)
    times = []
    for i in range(a.warmup + a.steps):
        if a.turns and not sys.stdin.readline():
            sys.exit("--turns: stdin closed before the last step")
        c0 = time.process_time()
        t0 = time.perf_counter()
        with autocast(a.autocast):
            loss = model(im1, im2)
        opt.zero_grad()
        loss.backward()
        opt.step()
        float(loss)
        wall, used = time.perf_counter() - t0, time.process_time() - c0
        if i >= a.warmup:
            times.append(wall)
        if a.turns:
            print("done %.6f %.6f" % (wall, used), flush=True)
    mean = sum(times) / len(times)
    print(json.dumps({"blas": blas, "impl": "pytorch-reference", "torch": torch.__version__, "batch": a.batch,
                      "threads": torch.get_num_threads(),
                      "precision": "fp32" if a.autocast == "none" else a.autocast,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
                      "img_per_s": a.batch / mean, "step_seconds": times}))


if __name__ == "__main__":
    main()
