#!/usr/bin/env python3
"""Self CPU time per op of one official MoCo v3 step (MoCo_ResNet + LARS, cifar10-v3 model, batch 64), the reference of
src/test/java/io/moco4j/bench/V3StepProfile.java. torch on 1 thread.

    /usr/bin/python3 bench/reference_v3_profile.py --moco-v3 /path/to/moco-v3 [--top 25]
"""
import argparse
import json
import os
import sys
import tempfile
import time

import reference_blas
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_v3_step import cifar_resnet  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--moco-v3", required=True)
    p.add_argument("--top", type=int, default=25)
    a = p.parse_args()
    reference_blas.require_fair()
    sys.path.insert(0, a.moco_v3)
    torch.Tensor.cuda = lambda self, *args, **kw: self
    import torch.distributed as dist
    init = tempfile.mktemp()
    dist.init_process_group("gloo", init_method="file://" + init, rank=0, world_size=1)
    import moco.builder
    import moco.optimizer
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = moco.builder.MoCo_ResNet(cifar_resnet("resnet18"), 256, 4096, 0.2)
    opt = moco.optimizer.LARS(model.parameters(), 0.3 * 64 / 256, weight_decay=1e-6, momentum=0.9)
    model.train()
    x1, x2 = torch.randn(64, 3, 32, 32), torch.randn(64, 3, 32, 32)

    def step():
        loss = model(x1, x2, 0.99)
        opt.zero_grad()
        loss.backward()
        opt.step()
        float(loss)

    for _ in range(2):
        step()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        t0 = time.perf_counter()
        step()
        wall = time.perf_counter() - t0
    rows = sorted(prof.key_averages(), key=lambda r: -r.self_cpu_time_total)
    total = sum(r.self_cpu_time_total for r in rows)
    print(json.dumps({"impl": "moco-v3-official", "wall_s": round(wall, 3), "ops_self_s": round(total / 1e6, 3),
                      "ops": sum(r.count for r in rows)}))
    for r in rows[:a.top]:
        print(json.dumps({"op": r.key, "self_s": round(r.self_cpu_time_total / 1e6, 4), "calls": r.count}))
    dist.destroy_process_group()
    os.remove(init) if os.path.exists(init) else None


if __name__ == "__main__":
    main()
