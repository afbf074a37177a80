#!/usr/bin/python3
"""Measures what bf16 contrastive logits cost (issue 21): the InfoNCE loss of MoCo v1/v2 and the in-batch loss of
v3, computed under torch.autocast("cpu", bfloat16) from bf16 encoder outputs (what happens if autocast covered the
loss too), against the same loss in float32 from the same bf16 outputs (MoCo4J's choice), both against float64.

Inputs imitate a trained model: unit queries, positives at cosine ~0.6-0.9 to them, queue/batch keys random unit
vectors; the encoder output is rounded to bf16 first in every variant (that rounding is the autocast forward's, not
the loss's). Prints the loss's relative error and the cosine of dL/dq (the gradient the encoder receives) to float64's.
Run: /usr/bin/python3 bench/logits_precision.py   (Debian torch 1.13)
"""
import torch
import torch.nn.functional as F

torch.manual_seed(0)


def v2_loss(q, k, queue, t):
    q, k = F.normalize(q, dim=1), F.normalize(k, dim=1)
    pos = (q * k).sum(1, keepdim=True)
    neg = q @ queue.t()
    logits = torch.cat([pos, neg], 1) / t
    return F.cross_entropy(logits, torch.zeros(q.shape[0], dtype=torch.long))


def v3_loss(q, k, t):
    q, k = F.normalize(q, dim=1), F.normalize(k, dim=1)
    logits = q @ k.t() / t
    return F.cross_entropy(logits, torch.arange(q.shape[0])) * 2 * t


def measure(name, fn, raw_q, *rest):
    q16 = raw_q.bfloat16()  # what the autocast forward hands over
    rest16 = [r.bfloat16() for r in rest]
    out = {}
    for variant in ("float64", "float32", "bf16"):
        if variant == "float64":
            q = q16.double().requires_grad_()
            args = [r.double() for r in rest16]
            loss = fn(q, *args)
        elif variant == "float32":
            q = q16.float().requires_grad_()
            args = [r.float() for r in rest16]
            loss = fn(q, *args)
        else:
            q = q16.clone().requires_grad_()
            with torch.autocast("cpu", torch.bfloat16):
                loss = fn(q, *rest16)
        loss.float().backward()
        out[variant] = (loss.double().item(), q.grad.double().ravel())
    ref_loss, ref_grad = out["float64"]
    for variant in ("float32", "bf16"):
        loss, grad = out[variant]
        cos = F.cosine_similarity(grad, ref_grad, dim=0).item()
        print(f"{name:34s} {variant:8s} loss rel err {abs(loss - ref_loss) / abs(ref_loss):.2e}  "
              f"grad cos {cos:.6f}  grad rel err {(grad - ref_grad).norm().item() / ref_grad.norm().item():.2e}")


def main():
    print("torch", torch.__version__)
    n, d = 256, 128
    for t in (0.07, 0.1, 0.2):
        for kq in (4096, 65536 // 8):
            q = torch.randn(n, d)
            k = F.normalize(q, dim=1) * 0.8 + 0.5 * F.normalize(torch.randn(n, d), dim=1)
            queue = F.normalize(torch.randn(kq, d), dim=1)
            measure(f"v2 InfoNCE T={t} K={kq}", lambda a, b, c: v2_loss(a, b, c, t), q, k, queue)
    for t in (0.2, 1.0):
        q = torch.randn(n, d)
        k = q * 0.8 + 0.5 * torch.randn(n, d)
        measure(f"v3 in-batch T={t} N={n}", lambda a, b: v3_loss(a, b, t), q, k)


if __name__ == "__main__":
    main()
