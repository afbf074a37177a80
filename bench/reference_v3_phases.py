#!/usr/bin/env python3
"""Seconds per phase (this thread's CPU time unless --wall: with --threads 1 the work of the phase) of the official MoCo v3 step (facebookresearch/moco-v3 MoCo_ResNet + LARS, or MoCo_ViT +
AdamW with --vit), the reference of src/bench/java/io/moco4j/bench/V3PhaseTiming.java. The step is main_moco.py's
(forward and loss under torch.autocast in bf16, backward and optimizer outside), with MoCo.forward cut into the
phases V3PhaseTiming times: the same calls in the same order as moco/builder.py's forward.

    /usr/bin/python3 bench/reference_v3_phases.py --moco-v3 /path/to/moco-v3 [--autocast bf16] [--vit ...]

Models, shims and options as bench/reference_v3_step.py. Prints one JSON line of median seconds per phase.
"""
import argparse
import json
import os
import sys
import time

import reference_blas
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_v3_step import autocast, official_close, official_model, official_one_process  # noqa: E402

PHASES = ["zero_grad", "momentum_update", "keys_forward", "queries_forward", "loss", "backward", "optimizer"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--moco-v3", required=True)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--mlp-dim", type=int, default=4096)
    p.add_argument("--vit", action="store_true")
    p.add_argument("--vit-size", type=int, nargs=3, default=[128, 4, 4])
    p.add_argument("--autocast", choices=["none", "bf16"], default="none")
    p.add_argument("--wall", action="store_true", help="wall seconds instead of this thread's CPU seconds")
    a = p.parse_args()
    clock = time.perf_counter if a.wall else time.thread_time  # with 1 torch thread the ops run on this thread
    blas = reference_blas.require_fair()[0]
    init = official_one_process(a.moco_v3, a.threads, a.autocast)
    model, opt = official_model(a.vit, a.vit_size, a.dim, a.mlp_dim, a.batch)
    x1, x2 = torch.randn(a.batch, 3, 32, 32), torch.randn(a.batch, 3, 32, 32)
    times = {k: [] for k in PHASES}
    for i in range(a.warmup + a.steps):
        s = {}
        t = clock()

        def lap(name):
            nonlocal t
            now = clock()
            s[name] = now - t
            t = now

        opt.zero_grad()
        lap("zero_grad")
        with autocast(a.autocast):
            q1 = model.predictor(model.base_encoder(x1))
            q2 = model.predictor(model.base_encoder(x2))
            lap("queries_forward")
            with torch.no_grad():
                model._update_momentum_encoder(0.99)
                lap("momentum_update")
                k1 = model.momentum_encoder(x1)
                k2 = model.momentum_encoder(x2)
                lap("keys_forward")
            loss = model.contrastive_loss(q1, k2) + model.contrastive_loss(q2, k1)
            lap("loss")
        loss.backward()
        lap("backward")
        opt.step()
        float(loss)
        lap("optimizer")
        if i >= a.warmup:
            for k in PHASES:
                times[k].append(s[k])

    def median(v):
        v = sorted(v)
        return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2

    out = {"impl": "moco-v3-official", "blas": blas, "torch": torch.__version__, "vit": a.vit, "batch": a.batch,
           "precision": "fp32" if a.autocast == "none" else a.autocast, "threads": torch.get_num_threads(),
           "clock": "wall" if a.wall else "thread_cpu"}
    out.update({k: round(median(times[k]), 4) for k in PHASES})
    out["step"] = round(median([sum(times[k][i] for k in PHASES) for i in range(a.steps)]), 4)
    print(json.dumps(out))
    official_close(init)


if __name__ == "__main__":
    main()
