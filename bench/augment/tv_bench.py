#!/usr/bin/python3
"""torchvision side of the augmentation benchmark: PIL decode + two views, as the official MoCo loaders do.

Usage: tv_bench.py DIR RECIPE(v2|cifar) SIZE WORKERS IMAGES [STAGES(0|1)]. Workers are processes (like DataLoader workers).
Prints one JSON line like AugmentBenchmark (img_per_cpu_s counts the CPU time of the process or the workers).
"""
import glob
import json
import os
import random
import sys
import time

import torch
import torchvision.transforms as T
from PIL import Image, ImageFilter


class GaussianBlur:
    """moco/loader.py's GaussianBlur (facebookresearch/moco): PIL's GaussianBlur with sigma ~ U[0.1, 2.0]."""

    def __init__(self, sigma=(0.1, 2.0)):
        self.sigma = sigma

    def __call__(self, x):
        return x.filter(ImageFilter.GaussianBlur(radius=random.uniform(self.sigma[0], self.sigma[1])))


def pipeline(recipe, size):
    imagenet = T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
    if recipe == "v2":  # facebookresearch/moco main_moco.py --aug-plus
        return [T.RandomResizedCrop(size, scale=(0.2, 1.0)),
                T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
                T.RandomGrayscale(p=0.2),
                T.RandomApply([GaussianBlur([0.1, 2.0])], p=0.5),
                T.RandomHorizontalFlip(),
                T.ToTensor(), imagenet]
    if recipe == "cifar":  # colab/moco_cifar10_demo.ipynb
        return [T.RandomResizedCrop(size), T.RandomHorizontalFlip(p=0.5),
                T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8), T.RandomGrayscale(p=0.2),
                T.ToTensor(), T.Normalize([0.4914, 0.4822, 0.4465], [0.2023, 0.1994, 0.2010])]
    raise SystemExit("unknown recipe " + recipe)


def pil_loader(path):  # torchvision.datasets.folder.pil_loader
    with open(path, "rb") as f:
        img = Image.open(f)
        return img.convert("RGB")


_STATE = {}


def _init(recipe, size):
    torch.set_num_threads(1)
    _STATE["t"] = T.Compose(pipeline(recipe, size))


def _work(path):
    img = pil_loader(path)
    a = _STATE["t"](img)
    b = _STATE["t"](img)
    return a.shape[0] + b.shape[0]


def _cpu(_):
    time.sleep(0.01)  # let every worker take some of these tiny tasks
    return os.getpid(), time.process_time()


def stages(files, recipe, size, images):
    """Mean ms per image (two views) of decode and each transform, one process, in thread CPU time."""
    steps = pipeline(recipe, size)
    names = ["decode"] + [f"{i}_{type(s).__name__}" for i, s in enumerate(steps[:-2])] + ["to_tensor_normalize"]
    acc = [0.0] * len(names)
    for i in range(images):
        t = time.thread_time()
        img = pil_loader(files[i % len(files)])
        acc[0] += time.thread_time() - t
        for _ in range(2):
            x = img
            for j, s in enumerate(steps):
                t = time.thread_time()
                x = s(x)
                acc[min(j + 1, len(names) - 1)] += time.thread_time() - t
    return {n: round(a * 1000 / images, 3) for n, a in zip(names, acc)}


def main():
    d, recipe, size, workers, images = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    files = sorted(glob.glob(os.path.join(d, "**", "*.jpg"), recursive=True))
    todo = [files[i % len(files)] for i in range(images)]
    if workers == 1:
        _init(recipe, size)
        for p in todo[: min(50, images)]:
            _work(p)
        t0 = time.perf_counter()
        c0 = time.process_time()
        for p in todo:
            _work(p)
        secs = time.perf_counter() - t0
        cpu = time.process_time() - c0
        st = stages(files, recipe, size, min(images, 300)) if len(sys.argv) > 6 and sys.argv[6] == "1" else {}
    else:
        import multiprocessing as mp
        with mp.get_context("fork").Pool(workers, initializer=_init, initargs=(recipe, size)) as pool:
            pool.map(_work, todo[: min(100, images)], chunksize=8)
            c0 = dict(pool.map(_cpu, range(64), chunksize=1))
            t0 = time.perf_counter()
            pool.map(_work, todo, chunksize=16)
            secs = time.perf_counter() - t0
            c1 = dict(pool.map(_cpu, range(64), chunksize=1))
        # CPU seconds of the workers seen both times (normally all of them).
        cpu = sum(c1[p] - c0[p] for p in c1 if p in c0) * workers / max(1, len([p for p in c1 if p in c0]))
        st = {}
    print(json.dumps({"recipe": recipe, "size": size, "threads": workers, "images": images,
                      "seconds": round(secs, 3), "img_per_s": round(images / secs, 1),
                      "img_per_cpu_s": round(images / cpu, 1), "stages_ms": st}))


if __name__ == "__main__":
    main()
