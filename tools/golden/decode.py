#!/usr/bin/python3
"""Image decoding fixtures: tiny files in awkward formats plus what PIL makes of them.

Writes src/test/resources/golden/decode/: the image files and expected.npz with, per file, the uint8 HWC array
that PIL gives for ImageOps.exif_transpose(Image.open(f)).convert("RGB") (or, for 16-bit grey, the high byte,
see ImageDecoder). Run with Debian's /usr/bin/python3 (PIL, numpy).
"""
import io
import os
import struct
import zlib

import numpy as np
from PIL import Image, ImageOps

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "src", "test", "resources", "golden", "decode")
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(0)
expected = {}


def pil_rgb(path):
    with Image.open(path) as im:
        return np.asarray(ImageOps.exif_transpose(im).convert("RGB"))


def quadrants(w, h):
    """An asymmetric picture: four flat colour blocks (JPEG keeps flat blocks nearly exact)."""
    a = np.zeros((h, w, 3), np.uint8)
    a[: h // 2, : w // 2] = (220, 30, 30)
    a[: h // 2, w // 2:] = (30, 200, 40)
    a[h // 2:, : w // 2] = (20, 40, 210)
    a[h // 2:, w // 2:] = (240, 230, 60)
    return a


def save(name, writer):
    path = os.path.join(OUT, name)
    writer(path)
    return path


# CMYK JPEG (PIL writes Adobe-style inverted CMYK; decoders must undo that).
cmyk = np.zeros((16, 16, 4), np.uint8)
cmyk[:8, :8] = (0, 200, 200, 0)
cmyk[:8, 8:] = (200, 0, 200, 30)
cmyk[8:, :8] = (200, 200, 0, 60)
cmyk[8:, 8:] = (10, 20, 160, 100)
p = save("cmyk.jpg", lambda f: Image.fromarray(cmyk, "CMYK").save(f, quality=100))
expected["cmyk.jpg"] = pil_rgb(p)

# Progressive RGB JPEG.
p = save("progressive.jpg", lambda f: Image.fromarray(quadrants(16, 16)).save(f, quality=95, progressive=True))
expected["progressive.jpg"] = pil_rgb(p)

# Greyscale JPEG and PNG.
grey = (np.arange(16 * 8).reshape(8, 16) * 2).astype(np.uint8)
p = save("grey.png", lambda f: Image.fromarray(grey, "L").save(f))
expected["grey.png"] = pil_rgb(p)
p = save("grey.jpg", lambda f: Image.fromarray(np.kron(grey[:2, :2], np.ones((8, 8), np.uint8)), "L").save(f, quality=100))
expected["grey.jpg"] = pil_rgb(p)

# 16-bit greyscale PNG: PIL clips to 0..255 on convert; we keep the high byte (documented deviation).
g16 = (np.arange(12).reshape(3, 4) * 5000 + 123).astype(np.uint16)
p = save("grey16.png", lambda f: Image.fromarray(g16).save(f))
expected["grey16.png"] = np.repeat((g16 >> 8).astype(np.uint8)[..., None], 3, axis=2)


def png_rgb16(path, arr):
    """PIL cannot write 16-bit RGB PNGs, so write the chunks by hand (colour type 2, bit depth 16)."""
    h, w, _ = arr.shape
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


rgb16 = rng.integers(0, 65536, size=(3, 5, 3), dtype=np.uint16)
p = save("rgb16.png", lambda f: png_rgb16(f, rgb16))
expected["rgb16.png"] = pil_rgb(p)

# RGBA with transparent pixels whose colour must survive (alpha dropped, not composited).
rgba = rng.integers(0, 256, size=(4, 6, 4), dtype=np.uint8)
rgba[0, :, 3] = 0
p = save("rgba.png", lambda f: Image.fromarray(rgba, "RGBA").save(f))
expected["rgba.png"] = pil_rgb(p)

# Grey + alpha.
la = rng.integers(0, 256, size=(3, 4, 2), dtype=np.uint8)
p = save("la.png", lambda f: Image.fromarray(la, "LA").save(f))
expected["la.png"] = pil_rgb(p)

# Palette PNG with a transparent entry, and a palette GIF.
pal = Image.fromarray(rng.integers(0, 6, size=(5, 7), dtype=np.uint8), "P")
pal.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30, 200, 100, 50, 255, 255, 255] + [0] * (256 * 3 - 18))
pal.info["transparency"] = 3
p = save("palette.png", lambda f: pal.save(f, transparency=3))
expected["palette.png"] = pil_rgb(p)
p = save("palette.gif", lambda f: pal.save(f))
expected["palette.gif"] = pil_rgb(p)

# 1-bit PNG.
bits = Image.fromarray((rng.integers(0, 2, size=(4, 9)) * 255).astype(np.uint8), "L").convert("1")
p = save("bilevel.png", lambda f: bits.save(f))
expected["bilevel.png"] = pil_rgb(p)

# BMP 24-bit.
p = save("rgb.bmp", lambda f: Image.fromarray(rng.integers(0, 256, size=(3, 5, 3), dtype=np.uint8)).save(f))
expected["rgb.bmp"] = pil_rgb(p)

# EXIF orientations 3, 6 and 8 on a 24x16 picture (stored sideways/upside down, shown upright).
for orientation in (3, 6, 8):
    exif = Image.Exif()
    exif[0x0112] = orientation
    name = "exif%d.jpg" % orientation
    p = save(name, lambda f: Image.fromarray(quadrants(24, 16)).save(f, quality=100, exif=exif.tobytes()))
    expected[name] = pil_rgb(p)

np.savez(os.path.join(OUT, "expected.npz"), **expected)
total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
print("wrote %d fixtures, %d bytes, to %s" % (len(expected), total, os.path.normpath(OUT)))
