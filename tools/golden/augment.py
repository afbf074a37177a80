#!/usr/bin/python3
"""Golden files for io.moco4j.data.augment: torchvision 0.14 functional ops on PIL images with fixed parameters.

Run with Debian's /usr/bin/python3 (torch 1.13, torchvision 0.14, Pillow 9.x). Writes
src/test/resources/golden/augment/{augment.npz,augment.json}. Each case names its input image, the op and its
parameters (augment.json) and the expected uint8 HWC output (or float32 CHW for to_tensor+normalize) in the npz.
"""
import json
import os
import sys

import numpy as np
import PIL
import torch
import torchvision
import torchvision.transforms.functional as F
from PIL import Image, ImageFilter, ImageOps

torch.set_num_threads(1)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src", "test", "resources", "golden", "augment")


def inputs():
    rng = np.random.RandomState(1234)
    noise = rng.randint(0, 256, size=(29, 37, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:29, 0:37].astype(np.float64)
    grad = np.stack([xx * 255 / 36, yy * 255 / 28, 128 + 100 * np.sin(xx / 5.0 + yy / 7.0)], axis=-1)
    grad = np.clip(np.round(grad), 0, 255).astype(np.uint8)
    # A wider image with saturated colours, grey pixels and a hard edge, to exercise hue/saturation and blur edges.
    big = rng.randint(0, 256, size=(48, 64, 3), dtype=np.uint8)
    big[:, :20] = np.array([255, 0, 0], dtype=np.uint8)
    big[:10, 20:40] = 77
    big[30:, 40:] = np.array([0, 255, 128], dtype=np.uint8)
    # Colour coverage for the HSV round trip: a 16^3 grid of colours (0, 17, ..., 255) plus 4096 random ones.
    levels = np.arange(0, 256, 17, dtype=np.uint8)
    grid = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(-1, 3)
    palette = np.concatenate([grid, rng.randint(0, 256, size=(4096, 3)).astype(np.uint8)]).reshape(64, 128, 3)
    return {"noise": noise, "grad": grad, "big": big, "palette": palette}


def main():
    ims = inputs()
    pil = {k: Image.fromarray(v, "RGB") for k, v in ims.items()}
    arrays = {"in_" + k: v for k, v in ims.items()}
    cases = []

    def add(name, src, op, params, out):
        arr = np.asarray(out) if isinstance(out, Image.Image) else out
        arrays["out_" + name] = np.ascontiguousarray(arr)
        cases.append({"name": name, "input": src, "op": op, "params": params})

    for hf in (-0.5, -0.1, 0.1, 0.33):
        add(f"palette_hue{hf}", "palette", "hue", {"factor": hf}, F.adjust_hue(pil["palette"], hf))
    for f in (0.3, 1.6):
        add(f"palette_saturation{f}", "palette", "saturation", {"factor": f}, F.adjust_saturation(pil["palette"], f))
    add("palette_grayscale", "palette", "grayscale", {}, F.rgb_to_grayscale(pil["palette"], num_output_channels=3))

    for src in ("noise", "grad", "big"):
        img = pil[src]
        w, h = img.size
        # resized_crop(top, left, height, width, size=[out_h, out_w]): down, up, mixed, whole image, identity size.
        boxes = [(3, 5, 20, 25, 12, 16), (2, 1, 9, 7, 31, 23), (0, 4, 25, 10, 13, 40), (0, 0, h, w, 19, 23),
                 (4, 6, 17, 21, 17, 21), (1, 2, 18, 30, 18, 11)]
        for i, (top, left, bh, bw, oh, ow) in enumerate(boxes):
            out = F.resized_crop(img, top, left, bh, bw, [oh, ow], F.InterpolationMode.BILINEAR)
            add(f"{src}_resized_crop{i}", src, "resized_crop",
                {"top": top, "left": left, "height": bh, "width": bw, "out_h": oh, "out_w": ow}, out)
        for short, crop in ((24, 20), (40, 33), (29, 29)):
            out = F.center_crop(F.resize(img, short, F.InterpolationMode.BILINEAR), [crop, crop])
            add(f"{src}_resize{short}_center{crop}", src, "resize_center_crop", {"shorter": short, "crop": crop}, out)
        for f in (0.0, 0.6, 1.0, 1.37, 1.4):
            add(f"{src}_brightness{f}", src, "brightness", {"factor": f}, F.adjust_brightness(img, f))
            add(f"{src}_contrast{f}", src, "contrast", {"factor": f}, F.adjust_contrast(img, f))
            add(f"{src}_saturation{f}", src, "saturation", {"factor": f}, F.adjust_saturation(img, f))
        for hf in (-0.5, -0.0999, -0.001, 0.05, 0.37, 0.5):
            add(f"{src}_hue{hf}", src, "hue", {"factor": hf}, F.adjust_hue(img, hf))
        add(f"{src}_grayscale", src, "grayscale", {}, F.rgb_to_grayscale(img, num_output_channels=3))
        add(f"{src}_hflip", src, "hflip", {}, F.hflip(img))
        add(f"{src}_solarize", src, "solarize", {"threshold": 128}, ImageOps.solarize(img, 128))
        add(f"{src}_solarize_tv", src, "solarize", {"threshold": 100}, F.solarize(img, 100))
        for s in (0.1, 0.35, 0.999, 1.37, 2.0, 3.3, 40.0):
            add(f"{src}_blur{s}", src, "gaussian_blur", {"sigma": s}, img.filter(ImageFilter.GaussianBlur(radius=s)))
        # A colour-jitter chain with fixed order and factors, as ColorJitter.forward applies them.
        for j, (order, b, c, s, hf) in enumerate([([3, 1, 0, 2], 1.3, 0.7, 1.2, -0.08),
                                                  ([0, 1, 2, 3], 0.65, 1.33, 0.61, 0.1),
                                                  ([2, 3, 1, 0], 1.01, 0.99, 1.4, 0.03)]):
            out = img
            for fn in order:
                out = [lambda x: F.adjust_brightness(x, b), lambda x: F.adjust_contrast(x, c),
                       lambda x: F.adjust_saturation(x, s), lambda x: F.adjust_hue(x, hf)][fn](out)
            add(f"{src}_jitter{j}", src, "jitter",
                {"order": order, "brightness": b, "contrast": c, "saturation": s, "hue": hf}, out)
        for norm_name, mean, std in (("imagenet", [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
                                     ("cifar10", [0.4914, 0.4822, 0.4465], [0.2023, 0.1994, 0.2010])):
            t = F.normalize(F.to_tensor(img), mean, std).numpy().astype(np.float32)
            add(f"{src}_normalize_{norm_name}", src, "normalize", {"mean": mean, "std": std}, t)

    os.makedirs(OUT, exist_ok=True)
    np.savez_compressed(os.path.join(OUT, "augment.npz"), **arrays)
    meta = {"torch": torch.__version__, "torchvision": torchvision.__version__, "pillow": PIL.__version__,
            "numpy": np.__version__, "cases": cases}
    with open(os.path.join(OUT, "augment.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(f"wrote {len(cases)} cases to {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
