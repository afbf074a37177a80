#!/usr/bin/python3
"""Golden file for io.moco4j.precision.NativeOps (issue 21): F.linear with bias and a bf16 softmax under
torch.autocast("cpu", torch.bfloat16) on Debian's torch 1.13, the ops the ViT's blocks run.

Run with Debian's interpreter:  /usr/bin/python3 tools/golden/native_ops.py
Writes src/test/resources/golden/mixed_precision/native_ops.npz: float32 arrays named <case>.<tensor> (a bf16 tensor
is stored as its float32 value, which is exact), so the Java test compares bits, not printed decimals.

  linear_3d, linear_2d  x (N, L, D) resp. (R, D), W (OUT, D), b (OUT), all float32 and requiring grad; under
                        autocast y = F.linear(x, W, b) (bf16); then (y.float() * g).sum().backward() outside autocast
                        with a float32 upstream g. Stored: x, W, b, g, y (bf16 bits) and the float32 gradients of
                        x, W, b. torch 1.13 folds the (N, L, D) input into one addmm (bias inside), as libtorch 2.7.1.
  softmax               s (N, H, L, L) in bf16 (values drawn in float32 and rounded), p = s.softmax(-1) under
                        autocast (bf16 in, bf16 out: softmax is on neither of CPU autocast's lists), then
                        (p.float() * g).sum().backward(): p bits and the bf16 gradient of s.
The script also runs everything with 2 threads instead of 1 and prints how many output / gradient elements differ
in this torch between thread counts (0 of all of them in torch 1.13 on the 2-core EPYC: the noise floor the Java test
quotes).
"""
import os

import numpy as np
import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "src", "test", "resources", "golden", "mixed_precision")


def bits32(t):
    return t.detach().float().contiguous().numpy().copy()


def bits16(t):
    assert t.dtype == torch.bfloat16, t.dtype
    return bits32(t)  # bf16 -> float32 is exact


def linear_case(shape_x, out, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape_x, generator=g).requires_grad_()
    w = (torch.randn(out, shape_x[-1], generator=g) * 0.2).requires_grad_()
    b = torch.randn(out, generator=g).requires_grad_()
    up = torch.randn(*shape_x[:-1], out, generator=g)
    with torch.autocast("cpu", torch.bfloat16):
        y = F.linear(x, w, b)
    (y.float() * up).sum().backward()
    return {"x": bits32(x), "w": bits32(w), "b": bits32(b), "g": bits32(up),
            "y_bf16": bits16(y), "x_grad": bits32(x.grad), "w_grad": bits32(w.grad), "b_grad": bits32(b.grad)}


def softmax_case(shape, seed):
    g = torch.Generator().manual_seed(seed)
    s32 = torch.randn(*shape, generator=g) * 3
    up = torch.randn(*shape, generator=g)
    s = s32.bfloat16().requires_grad_()
    with torch.autocast("cpu", torch.bfloat16):
        p = s.softmax(-1)
    (p.float() * up).sum().backward()
    return {"s_bf16": bits16(s), "g": bits32(up), "p_bf16": bits16(p),
            "s_grad_bf16": bits16(s.grad)}


def run():
    return {"linear_3d": linear_case((2, 9, 32), 48, 1),
            "linear_2d": linear_case((12, 32), 24, 2),
            "softmax": softmax_case((2, 2, 9, 9), 3)}


def differing(a, b):
    counts = {}
    for case in a:
        for key, va in a[case].items():
            if key not in ("x", "w", "b", "g", "s_bf16"):
                counts[case + "." + key] = int((va.view(np.int32) != b[case][key].view(np.int32)).sum())
    return counts


def main():
    torch.set_num_threads(1)
    golden = run()
    torch.set_num_threads(2)
    floor = differing(golden, run())
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "native_ops.npz")
    np.savez_compressed(path, **{c + "." + k: v for c, d in golden.items() for k, v in d.items()})
    print("wrote", os.path.normpath(path), "torch", torch.__version__)
    print("elements differing between 1 and 2 threads:", floor)


if __name__ == "__main__":
    main()
