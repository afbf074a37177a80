#!/usr/bin/python3
"""Benchmark inputs for bench/augment (never committed; written under /tmp).

- <out>/cifar32/: 5000 CIFAR-10 training JPEGs (500 per class, files 0000-0499) unpacked from
  ../shared/data/cifar10-jpg.tar.gz, 32x32, as shipped (JPEG quality 75).
- <out>/jpg400/: 500 JPEGs of 400x300: CIFAR-10 training images upscaled with PIL bicubic, plus Gaussian
  noise (sigma 6, fixed seed) so the files carry photo-like high-frequency detail, saved at JPEG quality 90
  (4:2:0), about 28 KB each.
"""
import glob
import os
import subprocess
import sys

import numpy as np
from PIL import Image


def main(out, tarball):
    cifar = os.path.join(out, "cifar32")
    if len(glob.glob(os.path.join(cifar, "train", "*", "*.jpg"))) < 5000:
        os.makedirs(cifar, exist_ok=True)
        subprocess.run(["tar", "xzf", tarball, "-C", cifar, "--wildcards", "train/*/0[0-4]??.jpg"], check=True)
    files = sorted(glob.glob(os.path.join(cifar, "train", "*", "*.jpg")))
    big = os.path.join(out, "jpg400")
    if len(glob.glob(os.path.join(big, "*.jpg"))) < 500:
        os.makedirs(big, exist_ok=True)
        rng = np.random.RandomState(0)
        for i, f in enumerate(files[::10][:500]):
            im = Image.open(f).convert("RGB").resize((400, 300), Image.BICUBIC)
            a = np.asarray(im).astype(np.float32) + rng.normal(0, 6, size=(300, 400, 3))
            Image.fromarray(np.clip(a + 0.5, 0, 255).astype(np.uint8)).save(os.path.join(big, f"{i:04d}.jpg"), quality=90)
    print(f"inputs ready under {out}: {len(files)} CIFAR-10 JPEGs, {len(glob.glob(os.path.join(big, '*.jpg')))} 400x300 JPEGs")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/moco4j-augment-bench",
         sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "data", "cifar10-jpg.tar.gz"))
