#!/usr/bin/env python3
"""Self CPU time per op of one official MoCo v3 step (MoCo_ResNet + LARS, cifar10-v3 model, batch 64), the reference of
src/bench/java/io/moco4j/bench/V3StepProfile.java. torch on 1 thread unless --threads.

    /usr/bin/python3 bench/reference_v3_profile.py --moco-v3 /path/to/moco-v3 [--top 25] [--autocast bf16]
    PYTHONPATH=TIMM:MOCO_V3 /usr/bin/python3 bench/reference_v3_profile.py --moco-v3 MOCO_V3 --vit --dim 128 \
        --mlp-dim 1024 [--autocast bf16]          # cpu-vit's model
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


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--moco-v3", required=True)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--autocast", choices=["none", "bf16"], default="none",
                   help="bf16: forward and loss under torch.autocast('cpu', torch.bfloat16), as main_moco.py")
    p.add_argument("--vit", action="store_true", help="MoCo_ViT + AdamW with cpu-vit's model (timm 0.4.9 on PYTHONPATH)")
    p.add_argument("--vit-size", type=int, nargs=3, default=[128, 4, 4])
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--mlp-dim", type=int, default=4096)
    p.add_argument("--shapes", action="store_true", help="group ops by input shapes too (dtype is in the op's inputs)")
    a = p.parse_args()
    reference_blas.require_fair()
    init = official_one_process(a.moco_v3, a.threads, a.autocast)
    model, opt = official_model(a.vit, a.vit_size, a.dim, a.mlp_dim, a.batch)
    x1, x2 = torch.randn(a.batch, 3, 32, 32), torch.randn(a.batch, 3, 32, 32)

    def step():
        with autocast(a.autocast):
            loss = model(x1, x2, 0.99)
        opt.zero_grad()
        loss.backward()
        opt.step()
        float(loss)

    for _ in range(2):
        step()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], record_shapes=a.shapes) as prof:
        t0 = time.perf_counter()
        step()
        wall = time.perf_counter() - t0
    rows = sorted(prof.key_averages(group_by_input_shape=a.shapes), key=lambda r: -r.self_cpu_time_total)
    total = sum(r.self_cpu_time_total for r in rows)
    print(json.dumps({"impl": "moco-v3-official", "wall_s": round(wall, 3), "ops_self_s": round(total / 1e6, 3),
                      "ops": sum(r.count for r in rows)}))
    for r in rows[:a.top]:
        row = {"op": r.key, "self_s": round(r.self_cpu_time_total / 1e6, 4), "calls": r.count}
        if a.shapes:
            row["shapes"] = str(r.input_shapes)
        print(json.dumps(row))
    official_close(init)


if __name__ == "__main__":
    main()
