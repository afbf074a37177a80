#!/usr/bin/env python3
"""Times moco-v3's LARS update alone over the cifar10-v3 model's trained parameters (the reference of
src/test/java/io/moco4j/bench/LarsStepBenchmark.java): MoCo_ResNet(resnet18 with the CIFAR stem, dim 256, mlp 4096),
fixed random gradients, wall and thread-CPU seconds per step with torch on 1 thread.

    /usr/bin/python3 bench/reference_lars_step.py --moco-v3 /path/to/moco-v3 [--steps 10]
"""
import argparse
import json
import statistics
import sys
import time

import reference_blas
import torch
import torch.nn as nn
import torchvision


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--moco-v3", required=True)
    p.add_argument("--steps", type=int, default=10)
    a = p.parse_args()
    blas = reference_blas.require_fair()[0]
    sys.path.insert(0, a.moco_v3)
    import moco.builder
    import moco.optimizer
    torch.set_num_threads(1)
    torch.manual_seed(0)

    def build(num_classes, **kw):
        m = torchvision.models.resnet18(num_classes=num_classes, **kw)
        m.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        m.maxpool = nn.Identity()
        return m

    model = moco.builder.MoCo_ResNet(build, 256, 4096, 0.2)
    opt = moco.optimizer.LARS(model.parameters(), 0.3 * 64 / 256, weight_decay=1e-6, momentum=0.9)
    trained = [q for q in model.parameters() if q.requires_grad]
    for q in trained:
        q.grad = torch.randn_like(q) * 1e-3
    opt.step()  # warm-up: mu is created
    wall, cpu = [], []
    for _ in range(a.steps):
        c0, t0 = time.thread_time(), time.perf_counter()
        opt.step()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
    print(json.dumps({"impl": "moco-v3-lars", "blas": blas, "tensors": len(trained), "values": sum(q.numel() for q in trained),
                      "median_wall_s": round(statistics.median(wall), 5), "median_thread_cpu_s": round(statistics.median(cpu), 5)}))


if __name__ == "__main__":
    main()
