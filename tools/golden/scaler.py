#!/usr/bin/env python3
"""Golden reference for io.moco4j.optim.LossScaler: torch.cuda.amp.GradScaler's grow / back-off / skip sequence.

Run with Debian's interpreter (it has torch 1.13):  /usr/bin/python3 tools/golden/scaler.py
Writes src/test/resources/golden/scaler/{default,short_interval}.json, and checkpoint_fp16.pth.tar: the moco-v3 golden
main_moco.py checkpoint (golden/moco_v3/checkpoint_0000.pth.tar, made by tools/golden/moco_v3.py) with its 'scaler'
entry replaced by the state_dict() of the short-interval GradScaler at its end, as an fp16 main_moco.py run saves it.

torch 1.13's GradScaler refuses CPU tensors in two ways: its constructor disables it when CUDA is absent, and
scale() / _MultiDeviceReplicator assert `is_cuda`; its two kernels (_amp_foreach_non_finite_check_and_unscale_,
_amp_update_scale_) exist only for CUDA. So this script runs GradScaler's own Python code (scale, unscale_, step,
update, state_dict) on CPU tensors, with its CUDA-availability probe answering "available" and Python's asserts off (it re-runs
itself with -O), and supplies the two kernels as line-for-line ports of their CUDA source in 1.13
(aten/src/ATen/native/cuda/AmpKernels.cu), in float32 as there.

The model is a 4-vector w with loss = sum(w * x_t), trained by torch.optim.SGD(lr=1/8). Inputs are multiples of 1/4
and every scale is a power of two, so gradients, unscaled gradients and weights are exact in float32 on both sides.
An overflow is forced with x = 1e36: with any scale above 2^8 its scaled gradient (x * scale) is above float32's
maximum (3.4e38) and becomes inf, as an fp16 overflow would; a NaN step uses x[0] = NaN.
"""
import json
import math
import os
import sys
import warnings

if __debug__:  # GradScaler asserts its tensors are CUDA tensors; run again without asserts
    os.execv(sys.executable, [sys.executable, "-O"] + sys.argv)

import torch

warnings.filterwarnings("ignore")
torch.set_num_threads(1)
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "src", "test", "resources", "golden", "scaler")
os.makedirs(OUT, exist_ok=True)


def non_finite_check_and_unscale_(scaled_grads, found_inf, inv_scale):
    # AmpKernels.cu: found_inf = 1 if any element is not finite; every element (also inf/nan) is multiplied by
    # inv_scale (skipped when inv_scale == 1), in the gradient's dtype (float32 here).
    inv = float(inv_scale.item())
    for g in scaled_grads:
        if not bool(torch.isfinite(g).all()):
            found_inf.fill_(1.0)
        if inv != 1.0:
            g.mul_(inv_scale)


def update_scale_(current_scale, growth_tracker, found_inf, growth_factor, backoff_factor, growth_interval):
    # AmpKernels.cu amp_update_scale_cuda_kernel; current_scale is float32, the factors doubles.
    if float(found_inf.item()):
        current_scale.fill_(float(torch.tensor(current_scale.item() * backoff_factor, dtype=torch.float32)))
        growth_tracker.fill_(0)
    else:
        successful = int(growth_tracker.item()) + 1
        if successful == growth_interval:
            new_scale = torch.tensor(current_scale.item() * growth_factor, dtype=torch.float32)
            if bool(torch.isfinite(new_scale)):  # never grows past float32 to inf
                current_scale.fill_(float(new_scale))
            growth_tracker.fill_(0)
        else:
            growth_tracker.fill_(successful)
    return current_scale


torch._amp_foreach_non_finite_check_and_unscale_ = non_finite_check_and_unscale_
torch._amp_update_scale_ = update_scale_
# the constructor would disable the scaler for lack of CUDA; with this it runs its enabled branch as on a GPU
torch.cuda.amp.grad_scaler.amp_definitely_not_available = lambda: False


def x_at(t, overflow, nan):
    """The input of step t: a fixed pattern of multiples of 1/4 (the Java test computes the same)."""
    if t in overflow:
        return [1e36] * 4
    x = [((t * 7 + i * 3) % 11 - 5) / 4.0 for i in range(4)]
    if t in nan:
        x[0] = float("nan")
    return x


def run(name, steps, overflow, nan, record_all, **ctor):
    scaler = torch.cuda.amp.GradScaler(**ctor)
    w = torch.tensor([0.5, -0.25, 1.0, 0.0], requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.125)
    records = []
    for t in range(steps):
        x = torch.tensor(x_at(t, overflow, nan), dtype=torch.float32)
        opt.zero_grad()
        loss = (w * x).sum()
        scaled = scaler.scale(loss)
        scale_used = scaler.get_scale()
        scaled.backward()
        scaler.unscale_(opt)
        unscaled = w.grad.tolist()
        found_inf = sum(v.item() for v in scaler._found_inf_per_device(opt).values()) > 0
        scaler.step(opt)  # skipped when found_inf
        scaler.update()
        rec = {"step": t, "scale_used": scale_used, "found_inf": found_inf, "scale_after": scaler.get_scale(),
               "tracker_after": scaler._get_growth_tracker()}
        if record_all or found_inf or t < 8 or rec["scale_after"] != scale_used:
            rec["unscaled_grad"] = [g if math.isfinite(g) else str(g) for g in unscaled]
            rec["w_after"] = w.tolist()
            records.append(rec)
    out = {"ctor": ctor, "steps": steps, "overflow_steps": sorted(overflow), "nan_steps": sorted(nan), "lr": 0.125,
           "w0": [0.5, -0.25, 1.0, 0.0], "records": records, "w_final": w.tolist(), "state_dict": scaler.state_dict(),
           "torch": torch.__version__}
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump(out, f, indent=0)
    print("wrote", name, "final scale", scaler.get_scale(), "tracker", scaler._get_growth_tracker())
    return scaler


# GradScaler's defaults (2^16, x2 after 2000 clean steps, x0.5): two overflows back off to 2^14, a NaN step after
# three clean ones backs off to 2^13 and resets the tracker, and 2000 clean steps after it the scale doubles.
run("default", 2010, overflow={0, 1}, nan={5}, record_all=False)
# A short growth interval, so growth, back-off and the tracker reset all happen within a few steps.
short = run("short_interval", 16, overflow={3, 4, 11}, nan={7}, record_all=True,
    init_scale=65536.0, growth_factor=2.0, backoff_factor=0.5, growth_interval=3)

# An official-layout checkpoint of an fp16 run: main_moco.py saves {'epoch', 'arch', 'state_dict', 'optimizer', 'scaler'}.
v3 = os.path.join(OUT, "..", "moco_v3", "checkpoint_0000.pth.tar")
state = torch.load(v3, map_location="cpu")
state["scaler"] = short.state_dict()
torch.save(state, os.path.join(OUT, "checkpoint_fp16.pth.tar"))
print("wrote checkpoint_fp16.pth.tar with scaler", state["scaler"])
