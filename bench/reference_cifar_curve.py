#!/usr/bin/env python3
"""kNN-vs-epoch curve of the official PyTorch MoCo builder on CIFAR-10 JPEG folders, for issue 5.

Trains the official CIFAR-10 demo model (facebookresearch/moco, branch colab-notebook,
colab/moco_cifar10_demo.ipynb: SplitBatchNorm, ModelBase, ModelMoCo, its train transform, its per-epoch
cosine rule and its kNN monitor) with the quarter-width CIFAR ResNet-18 of our cpu-small preset, on the
same JPEG folders MoCo4J reads, and prints one JSON line per epoch with the seconds of training and the
kNN top-1 of the head output (the demo's monitor) and of the pooled backbone (MoCo4J's default).

We do not ship the reference code: pass the notebook with --notebook (see bench/reference_moco_step.py).
Usage: /usr/bin/python3 bench/reference_cifar_curve.py --notebook NB --data /tmp/cifar10 --epochs 4
"""
import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torchvision import datasets, transforms
from torchvision.models import resnet

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_moco_step import load_reference  # noqa: E402

MEAN, STD = [0.4914, 0.4822, 0.4465], [0.2023, 0.1994, 0.2010]  # the demo's values


class NarrowResNet(resnet.ResNet):
    """torchvision's ResNet with every stage `width` times as wide (0.25: 16/32/64/128 channels)."""

    def __init__(self, width, num_classes, norm_layer):
        self.width = width
        super().__init__(resnet.BasicBlock, [2, 2, 2, 2], num_classes=num_classes, norm_layer=norm_layer)
        stem = int(64 * width)
        self.conv1 = nn.Conv2d(3, stem, kernel_size=7, stride=2, padding=3, bias=False)  # replaced by the demo
        self.bn1 = norm_layer(stem)
        self.fc = nn.Linear(int(512 * width), num_classes)

    def _make_layer(self, block, planes, blocks, stride=1, dilate=False):
        if planes == 64:  # first stage: the stem's width
            self.inplanes = int(64 * self.width)
        return super()._make_layer(block, int(planes * self.width), blocks, stride, dilate)


class Pair(datasets.ImageFolder):
    def __getitem__(self, index):
        img = self.loader(self.samples[index][0])
        return self.transform(img), self.transform(img)


def build_reference_model(notebook, width):
    """The notebook's ModelMoCo with our cpu-small settings and a `width` times as wide CIFAR ResNet-18."""
    resnet.narrow_resnet18 = lambda num_classes, norm_layer: NarrowResNet(width, num_classes, norm_layer)
    model_moco = load_reference(notebook, stem_width=int(64 * width))
    return model_moco(dim=128, K=4096, m=0.99, T=0.1, arch="narrow_resnet18", bn_splits=8, symmetric=False)


def load_init(model, directory):
    """Starts both encoders and the queue from MoCo4J's initial state (init_<torchvision key>.npy, queue0.npy)."""
    import numpy as np
    names = {0: "conv1", 1: "bn1", 3: "layer1", 4: "layer2", 5: "layer3", 6: "layer4", 9: "fc"}  # demo's net.<i>
    state = {}
    for key, value in model.encoder_q.state_dict().items():
        i = int(key.split(".")[1])
        tv = names[i] + key[len("net.%d" % i):]
        state[key] = (torch.zeros_like(value) if tv.endswith("num_batches_tracked")
                      else torch.from_numpy(np.load(os.path.join(directory, "init_" + tv + ".npy"))))
    model.encoder_q.load_state_dict(state)
    model.encoder_k.load_state_dict(state)
    model.queue.copy_(torch.from_numpy(np.load(os.path.join(directory, "queue0.npy"))).t())


def load_knn_predict(notebook):
    """The demo's own knn_predict (its kNN monitor cell), so the reference side scores exactly as the demo."""
    with open(notebook) as f:
        cells = ["".join(c["source"]) for c in json.load(f)["cells"] if c["cell_type"] == "code"]
    cell = next((c for c in cells if "def knn_predict" in c), None)
    if cell is None:
        raise SystemExit("could not find the knn_predict cell in " + notebook)
    env = {}
    exec("import torch\nimport torch.nn.functional as F\n" + cell, env)  # defines test() and knn_predict()
    return env["knn_predict"]


@torch.no_grad()
def knn(net, memory_loader, test_loader, k, t, knn_predict):
    net.eval()
    bank, bank_labels = [], []
    for x, y in memory_loader:
        bank.append(F.normalize(net(x), dim=1))
        bank_labels.append(y)
    bank = torch.cat(bank).t().contiguous()
    bank_labels = torch.cat(bank_labels)
    correct = total = 0
    for x, y in test_loader:
        pred = knn_predict(F.normalize(net(x), dim=1), bank, bank_labels, 10, k, t)
        correct += (pred[:, 0] == y).sum().item()
        total += y.numel()
    return 100.0 * correct / total


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--notebook", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--epochs", type=int, default=4, help="epochs to run")
    p.add_argument("--schedule-epochs", type=int, default=15, help="length of the cosine schedule")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--lr", type=float, default=0.06)
    p.add_argument("--width", type=float, default=0.25)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--init", help="directory with MoCo4J's initial weights and queue (init_*.npy, queue0.npy)")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                   help="bf16: the training forward and loss under torch.autocast('cpu', bfloat16), as moco-v3's "
                        "main_moco.py wraps its model call (kNN evaluation stays float32)")
    p.add_argument("--bank", help="folder of labelled images for the kNN bank (default: DATA/train)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)

    model = build_reference_model(a.notebook, a.width)
    knn_predict = load_knn_predict(a.notebook)
    if a.init:
        load_init(model, a.init)
    optimizer = torch.optim.SGD(model.parameters(), lr=a.lr, weight_decay=5e-4, momentum=0.9)

    train_tf = transforms.Compose([
        transforms.RandomResizedCrop(32), transforms.RandomHorizontalFlip(p=0.5),
        transforms.RandomApply([transforms.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
        transforms.RandomGrayscale(p=0.2), transforms.ToTensor(), transforms.Normalize(MEAN, STD)])
    test_tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize(MEAN, STD)])
    train = DataLoader(Pair(os.path.join(a.data, "train"), transform=train_tf), batch_size=a.batch, shuffle=True,
                       num_workers=a.workers, drop_last=True, persistent_workers=a.workers > 0)
    memory = DataLoader(datasets.ImageFolder(a.bank or os.path.join(a.data, "train"), transform=test_tf), batch_size=512,
                        num_workers=a.workers)
    test = DataLoader(datasets.ImageFolder(os.path.join(a.data, "test"), transform=test_tf), batch_size=512,
                      num_workers=a.workers)
    backbone = nn.Sequential(*list(model.encoder_q.net.children())[:-1])  # up to Flatten, without fc

    trained = 0.0
    for epoch in range(1, a.epochs + 1):
        lr = a.lr * 0.5 * (1.0 + math.cos(math.pi * epoch / a.schedule_epochs))  # the demo's rule, epoch from 1
        for g in optimizer.param_groups:
            g["lr"] = lr
        model.train()
        t0 = time.perf_counter()
        total = 0.0
        for im1, im2 in train:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.precision == "bf16"):
                loss = model(im1, im2)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item()
        trained += time.perf_counter() - t0
        head = knn(model.encoder_q, memory, test, 200, 0.1, knn_predict)
        back = knn(backbone, memory, test, 200, 0.1, knn_predict)
        print(json.dumps({"precision": a.precision, "epoch": epoch, "lr": lr, "loss": total / len(train), "train_seconds": round(trained, 1),
                          "knn_head": head, "knn_backbone": back}), flush=True)


if __name__ == "__main__":
    main()
