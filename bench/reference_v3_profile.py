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
import tempfile
import time

import reference_blas
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_v3_step import autocast, cifar_resnet  # noqa: E402


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
    sys.path.insert(0, a.moco_v3)
    torch.Tensor.cuda = lambda self, *args, **kw: self
    import torch.distributed as dist
    init = tempfile.mktemp()
    dist.init_process_group("gloo", init_method="file://" + init, rank=0, world_size=1)
    import moco.builder
    import moco.optimizer
    if a.autocast != "none":
        moco.builder.concat_all_gather = torch.no_grad()(lambda t: t.clone())  # gloo has no bf16 (one rank)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    if a.vit:
        from functools import partial
        import vits
        base = partial(vits.VisionTransformerMoCo, img_size=32, patch_size=4, embed_dim=a.vit_size[0],
                       depth=a.vit_size[1], num_heads=a.vit_size[2], stop_grad_conv1=True)
        model = moco.builder.MoCo_ViT(base, a.dim, a.mlp_dim, 0.2)
        opt = torch.optim.AdamW(model.parameters(), 1.5e-4 * a.batch / 256, weight_decay=0.1)
    else:
        model = moco.builder.MoCo_ResNet(cifar_resnet("resnet18"), a.dim, a.mlp_dim, 0.2)
        opt = moco.optimizer.LARS(model.parameters(), 0.3 * a.batch / 256, weight_decay=1e-6, momentum=0.9)
    model.train()
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
    dist.destroy_process_group()
    os.remove(init) if os.path.exists(init) else None


if __name__ == "__main__":
    main()
