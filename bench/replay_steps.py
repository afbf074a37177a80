#!/usr/bin/env python3
"""Replays MoCo4J's first training steps through the official PyTorch builder and compares the losses.

Input: a directory written by io.moco4j.bench.ReplayDump (initial weights, queue, real batches, the key
permutations and MoCo4J's losses). The official CIFAR demo's ModelMoCo (split BN 8, Shuffle BN, here with
MoCo4J's permutations) is started from the same weights and queue and fed the same batches with SGD lr 0.06,
momentum 0.9, weight decay 5e-4. Equal losses mean equal training steps, split and shuffle BN included.
Usage: /usr/bin/python3 bench/replay_steps.py --notebook moco_cifar10_demo.ipynb --dump /tmp/replay --steps 30
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_cifar_curve import build_reference_model, load_init  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--notebook", required=True)
    p.add_argument("--dump", required=True)
    p.add_argument("--steps", type=int, default=30)
    a = p.parse_args()
    torch.set_num_threads(2)
    model = build_reference_model(a.notebook, 0.25)
    load_init(model, a.dump)
    perm = {}
    model._batch_shuffle_single_gpu = lambda x: (x[perm["p"]], torch.argsort(perm["p"]))
    opt = torch.optim.SGD(model.encoder_q.parameters(), lr=0.06, weight_decay=5e-4, momentum=0.9)
    java = [float(line) for line in open(os.path.join(a.dump, "java_losses.txt"))]
    model.train()
    worst = 0.0
    for s in range(a.steps):
        load = lambda name: torch.from_numpy(np.load(os.path.join(a.dump, "step%d_%s.npy" % (s, name))))
        perm["p"] = load("perm")
        loss = model(load("v1"), load("v2"))
        opt.zero_grad()
        loss.backward()
        opt.step()
        worst = max(worst, abs(loss.item() - java[s]))
        print("step %d  pytorch %.5f  moco4j %.5f" % (s, loss.item(), java[s]))
    print("largest loss difference %.5f" % worst)


if __name__ == "__main__":
    main()
