#!/usr/bin/env python3
"""CIFAR-10 as 28-px greyscale images: a data set unlike CIFAR-10 for the issue-18 time-budget evidence.

Reads a CIFAR-10 JPEG tree (train/ and test/ with one folder per class, as /work/cifar10 after unpacking
../shared/data/cifar10-jpg.tar.gz) and writes the same tree with every image converted to 8-bit greyscale
(PIL's "L" mode, ITU-R 601-2 luma) and resized to 28x28 (bicubic), saved as single-channel JPEG (quality 95).
The output is data: never commit it.

    /usr/bin/python3 bench/cifar10_grey28.py /work/cifar10 /work/cifar10-grey28
Needs Debian's python3-pil (apt-get install python3-pil).
"""
import os
import sys

from PIL import Image


def main(src, dst, size=28):
    done = 0
    for split in ("train", "test"):
        for cls in sorted(os.listdir(os.path.join(src, split))):
            out_dir = os.path.join(dst, split, cls)
            os.makedirs(out_dir, exist_ok=True)
            for name in sorted(os.listdir(os.path.join(src, split, cls))):
                if not name.lower().endswith((".jpg", ".jpeg", ".png")):
                    continue
                with Image.open(os.path.join(src, split, cls, name)) as im:
                    grey = im.convert("L").resize((size, size), Image.BICUBIC)
                    grey.save(os.path.join(out_dir, os.path.splitext(name)[0] + ".jpg"), quality=95)
                done += 1
    open(os.path.join(dst, ".done"), "w").close()
    print(f"{done} images written to {dst}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: cifar10_grey28.py CIFAR10_JPEG_DIR OUT_DIR")
    main(sys.argv[1], sys.argv[2])
