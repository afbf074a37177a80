#!/usr/bin/env python3
"""Golden references for io.moco4j.eval, made with PyTorch.

Run with Debian's interpreter (it has torch):  /usr/bin/python3 tools/golden/eval.py
Writes src/test/resources/golden/eval/{knn.npz, lincls_steps.npz}.

knn.npz: the weighted kNN of the MoCo CIFAR-10 demo / InstDisc (cosine similarity, top k, weights
exp(sim / t), class scores summed, classes ranked by score) on random features.
lincls_steps.npz: two training steps of main_lincls.py's classifier (nn.Linear + CrossEntropyLoss +
SGD(lr 30, momentum 0.9, weight decay 0)) on fixed features, from a given initial weight.
"""
import os

import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(1)
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "src", "test", "resources", "golden", "eval")
os.makedirs(OUT, exist_ok=True)
g = torch.Generator().manual_seed(2024)


def f32(t):
    return np.ascontiguousarray(t.detach().cpu().numpy().astype(np.float32))


def reference_knn(query, bank, bank_labels, classes, k, t):
    # Same computation as the demo's knn_predict: bank is (D, N) and both are L2-normalised.
    sim = query @ bank
    w, idx = sim.topk(k=k, dim=-1)
    neighbour_labels = torch.gather(bank_labels.expand(query.size(0), -1), dim=-1, index=idx)
    w = (w / t).exp()
    one_hot = torch.zeros(query.size(0) * k, classes).scatter(-1, neighbour_labels.view(-1, 1), 1.0)
    scores = (one_hot.view(query.size(0), -1, classes) * w.unsqueeze(-1)).sum(dim=1)
    return scores, scores.argsort(dim=-1, descending=True)


# ---------------------------------------------------------------- kNN
N, M, D, C, K, T = 300, 40, 16, 10, 20, 0.1
centres = torch.randn(C, D, generator=g)
bank_labels = torch.randint(0, C, (N,), generator=g)
bank = (centres[bank_labels] + 1.4 * torch.randn(N, D, generator=g)) * 3.0  # scale must not matter
query_labels = torch.randint(0, C, (M,), generator=g)
queries = centres[query_labels] + 1.4 * torch.randn(M, D, generator=g)
scores, ranking = reference_knn(F.normalize(queries, dim=1), F.normalize(bank, dim=1).t().contiguous(),
                                bank_labels, C, K, T)
top1 = (ranking[:, 0] == query_labels).float().mean().item() * 100
top5 = (ranking[:, :5] == query_labels.unsqueeze(1)).any(dim=1).float().mean().item() * 100
np.savez(os.path.join(OUT, "knn.npz"), bank=f32(bank), bank_labels=bank_labels.numpy().astype(np.int64),
         queries=f32(queries), query_labels=query_labels.numpy().astype(np.int64), scores=f32(scores),
         ranking=ranking.numpy().astype(np.int64), k=np.array([K], np.int64), t=np.array([T], np.float64),
         top1=np.array([top1]), top5=np.array([top5]))

# ---------------------------------------------------------------- linear probe steps
B, DIN, CLS = 8, 16, 5
fc = torch.nn.Linear(DIN, CLS)
with torch.no_grad():
    fc.weight.normal_(mean=0.0, std=0.01, generator=g)
    fc.bias.zero_()
w0, b0 = f32(fc.weight), f32(fc.bias)
opt = torch.optim.SGD(fc.parameters(), lr=30.0, momentum=0.9, weight_decay=0.0)
x1, y1 = torch.rand(B, DIN, generator=g), torch.randint(0, CLS, (B,), generator=g)
x2, y2 = torch.rand(B, DIN, generator=g), torch.randint(0, CLS, (B,), generator=g)
losses = []
for x, y in ((x1, y1), (x2, y2)):
    loss = F.cross_entropy(fc(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    losses.append(loss.item())
np.savez(os.path.join(OUT, "lincls_steps.npz"), w0=w0, b0=b0, x1=f32(x1), y1=y1.numpy().astype(np.int64),
         x2=f32(x2), y2=y2.numpy().astype(np.int64), loss=np.array(losses, np.float64),
         w2=f32(fc.weight), b2=f32(fc.bias))
print("wrote", OUT, "top1 %.2f top5 %.2f" % (top1, top5))
