"""Drawn photographs and what re-uploaders do to them, for `bench_duplicates` and the tests:
smooth colour fields with overlapping shapes, blur and sensor-like noise (PDQ sees them as real
photos: quality 100), and the edits of issue 6's benchmark."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageOps


def photo(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    rng = np.random.default_rng(seed)
    width, height = size
    yy, xx = np.mgrid[0:height, 0:width] / max(width, height)
    base = np.zeros((height, width, 3))
    for channel in range(3):
        a, b, phase = rng.uniform(-1, 1, 3)
        base[..., channel] = 128 + 80 * np.sin(6 * (a * xx + b * yy) + phase)
    image = Image.fromarray(base.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(25):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        side = int(rng.integers(20, 200))
        box = (x0, y0, x0 + side, y0 + int(side * rng.uniform(0.5, 1.5)))
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=fill)
    image = image.filter(ImageFilter.GaussianBlur(1.5))
    noisy = np.asarray(image).astype(float) + rng.normal(0, 6, (height, width, 3))
    return Image.fromarray(noisy.clip(0, 255).astype(np.uint8))


def encode(image: Image.Image, fmt: str = "JPEG", **options) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, format=fmt, **({"quality": 92} | options if fmt == "JPEG" else options))
    return out.getvalue()


def central_crop(image: Image.Image, removed: float) -> Image.Image:
    """Remove `removed` of each dimension, half on each side."""
    width, height = image.size
    dx, dy = width * removed / 2, height * removed / 2
    return image.crop((round(dx), round(dy), round(width - dx), round(height - dy)))


def offset_crop(image: Image.Image, keep: float, ax: float, ay: float) -> Image.Image:
    """Keep `keep` of each dimension, placed by the anchors (0: left/top, 1: right/bottom)."""
    width, height = image.size
    left, top = width * (1 - keep) * ax, height * (1 - keep) * ay
    return image.crop((round(left), round(top), round(left + width * keep), round(top + height * keep)))


def border(image: Image.Image, share: float = 0.05, colour=(0, 0, 0)) -> Image.Image:
    pad = round(max(image.size) * share)
    return ImageOps.expand(image, border=pad, fill=colour)


def banner(image: Image.Image, share: float = 0.10) -> Image.Image:
    """A caption strip with text over the bottom of the picture."""
    edited = image.copy()
    width, height = edited.size
    draw = ImageDraw.Draw(edited)
    top = round(height * (1 - share))
    draw.rectangle((0, top, width, height), fill=(20, 20, 20))
    draw.text((10, top + 4), "SHARE IF YOU AGREE  #viral  #repost", fill=(255, 255, 255))
    return edited


# name -> (transform, encode options)
TRANSFORMS: dict[str, Callable[[Image.Image], bytes]] = {
    "resize 50%": lambda im: encode(im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS)),
    "jpeg q30": lambda im: encode(im, quality=30),
    "crop 10%": lambda im: encode(central_crop(im, 0.10)),
    "crop 25%": lambda im: encode(central_crop(im, 0.25)),
    # Beyond the list: crops that are not centred (PDQ tells positions 5% apart).
    "crop 10% corner": lambda im: encode(im.crop((0, 0, round(im.width * 0.9), round(im.height * 0.9)))),
    "cut 10% bottom": lambda im: encode(im.crop((0, 0, im.width, round(im.height * 0.9)))),
    "crop 10% off-grid": lambda im: encode(offset_crop(im, 0.9, 0.25, 0.75)),
    "rotate 5deg": lambda im: encode(im.rotate(5, expand=True, resample=Image.Resampling.BICUBIC)),
    "mirror": lambda im: encode(ImageOps.mirror(im)),
    "brightness +30%": lambda im: encode(ImageEnhance.Brightness(im).enhance(1.3)),
    "grayscale": lambda im: encode(ImageOps.grayscale(im)),
    "text banner": lambda im: encode(banner(im)),
    "5% border": lambda im: encode(border(im)),
}



def cut(image: Image.Image, share: float, side: str) -> Image.Image:
    """`share` of the picture cut off one side (a caption strip, a watermark, a cropped-out face)."""
    width, height = image.size
    box = {
        "top": (0, round(height * share), width, height),
        "bottom": (0, 0, width, round(height * (1 - share))),
        "left": (round(width * share), 0, width, height),
        "right": (0, 0, round(width * (1 - share)), height),
    }[side]
    return image.crop(box)


# Issue 17's additions: 15% and 20% cut off each side.
CUT_TRANSFORMS: dict[str, Callable[[Image.Image], bytes]] = {
    f"cut {round(share * 100)}% {side}": (lambda im, share=share, side=side: encode(cut(im, share, side)))
    for share in (0.15, 0.20)
    for side in ("top", "bottom", "left", "right")
}
TRANSFORMS.update(CUT_TRANSFORMS)

# Not in issue 6's list: reported beside it, left out of the headline recall.
EXTRA_TRANSFORMS = ("crop 10% corner", "cut 10% bottom", "crop 10% off-grid")
# The headline recall: issue 6's ten transforms and the cuts of issue 17.
HEADLINE_TRANSFORMS = tuple(name for name in TRANSFORMS if name not in EXTRA_TRANSFORMS)
