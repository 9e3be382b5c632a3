"""Per-image work done once in the worker: decode, orient, thumbnail, perceptual hash, EXIF date."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pdqhash
from django.conf import settings
from PIL import Image as PILImage
from PIL import ImageOps

EXIF_DATETIME_ORIGINAL = 0x9003
EXIF_IFD = 0x8769


@dataclass
class Prepared:
    image: PILImage.Image | None  # RGB, EXIF-transposed (None once turned into model inputs)
    thumbnail: bytes  # WebP
    pdq_hash: str
    pdq_quality: int
    taken_at: datetime | None
    model_inputs: Any = None  # what the encoder makes of `image`


def decode(data: bytes) -> PILImage.Image:
    """Decode the first frame, apply EXIF orientation, convert to RGB."""
    with PILImage.open(io.BytesIO(data)) as img:
        img.seek(0)
        oriented = ImageOps.exif_transpose(img)
        return oriented.convert("RGB")


def make_thumbnail(image: PILImage.Image, size: int | None = None) -> bytes:
    size = size or settings.THUMBNAIL_SIZE
    thumb = image.copy()
    thumb.thumbnail((size, size), PILImage.Resampling.LANCZOS)
    out = io.BytesIO()
    thumb.save(out, format="WEBP", quality=82, method=4)
    return out.getvalue()


def compute_pdq(image: PILImage.Image) -> tuple[str, int]:
    """PDQ hash (64 hex chars) and quality 0-100, as HMA and ThreatExchange use them."""
    bits, quality = pdqhash.compute(np.asarray(image))
    packed = np.packbits(bits.astype(np.uint8))
    return packed.tobytes().hex(), int(quality)


def exif_taken_at(data: bytes) -> datetime | None:
    try:
        with PILImage.open(io.BytesIO(data)) as img:
            raw = img.getexif().get_ifd(EXIF_IFD).get(EXIF_DATETIME_ORIGINAL)
        if not raw:
            return None
        return datetime.strptime(str(raw).strip("\x00 "), "%Y:%m:%d %H:%M:%S").replace(tzinfo=UTC)
    except (ValueError, OSError, TypeError, AttributeError):
        return None


# Hash and thumbnail a copy at most this big: PDQ reduces to 64x64 anyway, and reference
# deployments hash 512-pixel downscales; at full size PDQ dominates the per-image cost.
WORKING_SIZE = 512


def working_copy(image: PILImage.Image) -> PILImage.Image:
    small = image.copy()
    small.thumbnail((WORKING_SIZE, WORKING_SIZE), PILImage.Resampling.BICUBIC)
    return small


def prepare(data: bytes, model_inputs: Callable[[PILImage.Image], Any] | None = None) -> Prepared:
    """Everything indexing needs from the bytes. With `model_inputs` the full-size image is turned
    into the encoder's inputs here and dropped, so a batch never holds many decoded originals."""
    image = decode(data)
    small = working_copy(image)
    pdq, quality = compute_pdq(small)
    inputs = model_inputs(image) if model_inputs else None
    return Prepared(
        image=None if model_inputs else image,
        model_inputs=inputs,
        thumbnail=make_thumbnail(small if settings.THUMBNAIL_SIZE <= WORKING_SIZE else image),
        pdq_hash=pdq,
        pdq_quality=quality,
        taken_at=exif_taken_at(data),
    )
