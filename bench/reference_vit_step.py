#!/usr/bin/python3
"""Times the official MoCo v3 ViT backbone's forward + backward on random input (the work of bench VitBenchmark).

  /usr/bin/python3 bench/reference_vit_step.py --moco-v3 DIR --timm DIR --size vit_cifar_tiny --batch 64
Builds vits.VisionTransformerMoCo (timm 0.4.9) with the size's settings and no head; each step zeroes the
gradients and back-propagates the sum of the cls features. Prints one JSON line like the Java side, including the
share of the profiled step inside the attention core (bmm and softmax forward/backward, as VitBenchmark counts it).
"""
import argparse
import json
import sys
import time
from functools import partial

import reference_blas

SIZES = {"vit_cifar_tiny": (32, 4, 192, 6, 3), "vit_tiny": (224, 16, 192, 12, 3),
         "vit_small": (224, 16, 384, 12, 12), "vit_base": (224, 16, 768, 12, 12)}
ATTENTION_OPS = {"aten::bmm", "aten::_softmax", "aten::_softmax_backward_data"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--moco-v3", required=True)
    ap.add_argument("--timm", required=True)
    ap.add_argument("--size", default="vit_cifar_tiny", choices=sorted(SIZES))
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    blas = reference_blas.require_fair()[0]  # refuses the netlib reference BLAS (an unfair baseline)
    sys.path[:0] = [a.timm, a.moco_v3]
    import warnings
    warnings.filterwarnings("ignore")
    import torch
    import torch.nn as nn
    import vits
    torch.set_num_threads(a.threads)
    img, patch, dim, depth, heads = SIZES[a.size]
    model = vits.VisionTransformerMoCo(img_size=img, patch_size=patch, embed_dim=dim, depth=depth, num_heads=heads,
                                       mlp_ratio=4, qkv_bias=True, norm_layer=partial(nn.LayerNorm, eps=1e-6),
                                       num_classes=0)
    model.train()
    x = torch.randn(a.batch, 3, img, img)

    def step():
        model.zero_grad(set_to_none=False)
        model(x).sum().backward()

    times = []
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        step()
        if i >= a.warmup:
            times.append(time.perf_counter() - t0)
    with torch.autograd.profiler.profile() as prof:
        t0 = time.perf_counter()
        step()
        wall = (time.perf_counter() - t0) * 1e6
    spans = sorted((e.time_range.start, e.time_range.end) for e in prof.function_events if e.name in ATTENTION_OPS)
    covered, end = 0.0, float("-inf")
    for s, e in spans:
        if s > end:
            covered += e - s
            end = e
        elif e > end:
            covered += e - end
            end = e
    mean = sum(times) / len(times)
    print(json.dumps({"blas": blas, "impl": "pytorch", "size": a.size, "batch": a.batch, "img_per_s": round(a.batch / mean, 3),
                      "step_seconds": [round(t, 4) for t in times], "attention_share": round(covered / wall, 4)}))


if __name__ == "__main__":
    main()
