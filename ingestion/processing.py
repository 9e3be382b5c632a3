"""Per-image work done once in the worker: decode, orient, thumbnail, perceptual hash, EXIF date."""

from __future__ import annotations

import contextlib
import io
import math
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pdqhash
from django.conf import settings
from PIL import Image as PILImage
from PIL import ImageOps

from .renditions import RENDITIONS, target_size

EXIF_DATETIME_ORIGINAL = 0x9003
EXIF_IFD = 0x8769


@dataclass(frozen=True)
class HashVariant:
    """The PDQ hash of one transform of the image (see `pdq_variants`)."""

    kind: str
    pdq_hash: str
    quality: int


class Thumbnail(bytes):
    """The thumbnail's WebP bytes (`thumbnail_url`), carrying the image's other sizes along:
    `renditions` maps each name of ingestion/renditions.py to its WebP bytes. A bytes subclass, so
    whoever stores `Prepared.thumbnail` (ingestion.storage.store_thumbnail) stores the whole set."""

    renditions: dict[str, bytes]

    def __new__(cls, data: bytes, renditions: dict[str, bytes] | None = None) -> Thumbnail:
        thumbnail = super().__new__(cls, data)
        thumbnail.renditions = dict(renditions or {})
        return thumbnail


@dataclass
class Prepared:
    image: PILImage.Image | None  # RGB, EXIF-transposed (None once turned into model inputs)
    thumbnail: Thumbnail  # WebP, with the responsive sizes attached
    pdq_hash: str  # of the image as it is
    pdq_quality: int
    taken_at: datetime | None
    model_inputs: Any = None  # what the encoder makes of `image`
    pdq_variants: list[HashVariant] = field(default_factory=list)  # dihedral, trimmed, cropped


# Single-channel modes wider than 8 bits: 16-bit and 32-bit integers, 32-bit float.
WIDE_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
# Transparent pixels are shown (and encoded) over white, as browsers and viewers show them.
MATTE = (255, 255, 255)


def tone_map(image: PILImage.Image) -> PILImage.Image:
    """A wide single-channel image as 8-bit grey, as a viewer displays it: integers scaled from
    their bit depth (a 16-bit PNG used to come out white), floats in [0, 1] scaled by 255 and
    other floats (HDR, scientific TIFFs, which used to come out black) stretched over their range."""
    pixels = np.asarray(image, dtype=np.float32)
    finite = pixels[np.isfinite(pixels)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if image.mode == "F":
        low, high = (0.0, 1.0) if low >= 0 and high <= 1 else (low, high)
    else:
        low, high = 0.0, 255.0 if high <= 255 else 65535.0 if high <= 65535 else high
    scaled = (np.nan_to_num(pixels, nan=low) - low) * (255.0 / max(high - low, 1e-12))
    return PILImage.fromarray(np.clip(scaled, 0, 255).round().astype(np.uint8), mode="L")


# Decoding a huge image is bounded twice: it is reduced to at most this side as it is decoded
# (JPEG: DCT scaling, never the full size; others: Image.reduce right after the decode, before
# any copy), and at most settings.HEAVY_DECODES_PER_PROCESS of them run at once in one process.
# Thumbnails, PDQ (512), OCR (1600) and the model (224) need less; smaller images decode as before.
DECODE_MAX_SIDE = 2048
HEAVY_PIXELS = 16_000_000
_heavy_decodes: threading.BoundedSemaphore | None = None
_heavy_lock = threading.Lock()


def _heavy_gate() -> threading.BoundedSemaphore:
    global _heavy_decodes
    with _heavy_lock:
        if _heavy_decodes is None:
            _heavy_decodes = threading.BoundedSemaphore(settings.HEAVY_DECODES_PER_PROCESS)
        return _heavy_decodes


def heavy_decode(pixels: int) -> contextlib.AbstractContextManager:
    """A slot among HEAVY_DECODES_PER_PROCESS for decoding this many pixels (none needed if few)."""
    return _heavy_gate() if pixels > HEAVY_PIXELS else contextlib.nullcontext()


def _reduced(img: PILImage.Image, max_side: int, max_pixels: int | None) -> tuple[PILImage.Image, int | None]:
    """The opened image decoded with its longest side reduced towards `max_side` (never below).
    When a new, reduced image is returned, `img` is closed (its full-size pixels freed before the
    next heavy decode may start) and its EXIF orientation is returned with it."""
    width, height = img.size
    if max(width, height) > max_side:
        scale = max_side / max(width, height)
        img.draft(None, (math.ceil(width * scale), math.ceil(height * scale)))  # JPEG only; else no-op
    decoded_pixels = img.size[0] * img.size[1]
    if max_pixels is not None and decoded_pixels > max_pixels:
        raise ValueError(
            f"the image is {width}x{height}; at most {max_pixels / 1e6:.0f} megapixels can be decoded here"
        )
    with heavy_decode(decoded_pixels):
        img.load()
        factor = max(img.size) // max_side
        if factor < 2:
            return img, None
        orientation = img.getexif().get(ORIENTATION, 1)
        full = img.convert(_reducible_mode(img)) if img.mode not in REDUCIBLE_MODES else img
        reduced = full.reduce(factor)  # palette, bilevel, 16-bit: converted to a mode it works on
        full.close()
        img.close()
        return reduced, orientation


ORIENTATION = 0x0112
_TRANSPOSE = {
    2: PILImage.Transpose.FLIP_LEFT_RIGHT,
    3: PILImage.Transpose.ROTATE_180,
    4: PILImage.Transpose.FLIP_TOP_BOTTOM,
    5: PILImage.Transpose.TRANSPOSE,
    6: PILImage.Transpose.ROTATE_270,
    7: PILImage.Transpose.TRANSVERSE,
    8: PILImage.Transpose.ROTATE_90,
}


def _orient(image: PILImage.Image, orientation: int) -> PILImage.Image:
    """What ImageOps.exif_transpose does to the pixels, for an EXIF orientation read earlier."""
    method = _TRANSPOSE.get(orientation)
    return image.transpose(method) if method is not None else image


REDUCIBLE_MODES = {"L", "LA", "La", "RGB", "RGBA", "RGBa", "I", "F", "CMYK", "YCbCr", "PA"}


def _reducible_mode(img: PILImage.Image) -> str:
    if img.mode.startswith("I;16"):
        return "I"
    if img.mode == "1":
        return "L"
    return "RGBA" if img.has_transparency_data else "RGB"


def decode_keeping_alpha(
    data: bytes, max_side: int = DECODE_MAX_SIDE, max_pixels: int | None = None
) -> PILImage.Image:
    """The first frame, EXIF-oriented, as 8-bit RGB, or RGBA when it has transparency; at most
    about `max_side` on its longest side, and refused (ValueError) if it would decode to more than
    `max_pixels`."""
    with warnings.catch_warnings(), PILImage.open(io.BytesIO(data)) as img:
        # Pixel limits are the callers' (validation, max_pixels): not Pillow's global bomb guard.
        warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)
        img.seek(0)
        reduced, orientation = _reduced(img, max_side, max_pixels)
        # A reduced image is new: not every format's orientation tag travels with it.
        oriented = ImageOps.exif_transpose(img) if orientation is None else _orient(reduced, orientation)
    if oriented.mode in WIDE_MODES:
        oriented = tone_map(oriented)
    return oriented.convert("RGBA" if oriented.has_transparency_data else "RGB")


def flatten(image: PILImage.Image) -> PILImage.Image:
    """RGB as the image looks on a page: transparency composited over white (the hidden colour
    under transparent pixels, often black, no longer reaches the encoder or the hash)."""
    if image.mode != "RGBA":
        return image if image.mode == "RGB" else image.convert("RGB")
    matte = PILImage.new("RGB", image.size, MATTE)
    matte.paste(image, mask=image.getchannel("A"))
    return matte


def decode(data: bytes, max_side: int = DECODE_MAX_SIDE, max_pixels: int | None = None) -> PILImage.Image:
    """Decode the first frame, apply EXIF orientation, convert to RGB (see `flatten`), bounded as
    `decode_keeping_alpha`."""
    return flatten(decode_keeping_alpha(data, max_side, max_pixels))


def make_thumbnail(image: PILImage.Image, size: int | None = None) -> bytes:
    size = size or settings.THUMBNAIL_SIZE
    thumb = image.copy()
    thumb.thumbnail((size, size), PILImage.Resampling.LANCZOS)
    out = io.BytesIO()
    thumb.save(out, format="WEBP", quality=82, method=4)
    return out.getvalue()


def make_renditions(image: PILImage.Image) -> dict[str, bytes]:
    """Every size of ingestion/renditions.py, as WebP, from the already-decoded image (RGB, or RGBA
    to keep transparency). Each is resized from the smallest one already made that is still big
    enough (the preview is the only resize of the full decoded image), and none is upscaled."""
    made: dict[str, bytes] = {}
    sources = [image]
    for rendition in RENDITIONS:
        size = target_size(*image.size, rendition)
        source = next(s for s in reversed(sources) if s.width >= size[0] and s.height >= size[1])
        # An integer box reduce first (reducing_gap), then bicubic over the rest: from a 12 MP
        # decode 0.07 s, where Lanczos took 0.11 s and 0.24 s without the reduce.
        gap = 1.0 if source is image else 2.0
        resized = source
        if source.size != size:
            resized = source.resize(size, PILImage.Resampling.BICUBIC, reducing_gap=gap)
        out = io.BytesIO()
        resized.save(out, format="WEBP", quality=rendition.quality, method=rendition.method)
        made[rendition.name] = out.getvalue()
        sources.append(resized)
    return made


def compute_pdq(image: PILImage.Image) -> tuple[str, int]:
    """PDQ hash (64 hex chars) and quality 0-100, as HMA and ThreatExchange use them."""
    bits, quality = pdqhash.compute(np.asarray(image))
    packed = np.packbits(bits.astype(np.uint8))
    return packed.tobytes().hex(), int(quality)


def _hex(bits: np.ndarray) -> str:
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex()


# pdqhash.compute_dihedral's order (the PDQ reference's): as is, three turns, then four flips.
DIHEDRAL_KINDS = ("plain", "rot90", "rot180", "rot270", "flip", "mirror", "transpose", "transverse")
# Central crops re-uploaders make; PDQ moves about 45 bits per 5% of crop, so each level
# catches crops within a couple of percent of it.
CROP_FRACTIONS = {"crop90": 0.90, "crop80": 0.80, "crop75": 0.75}
# Off-centre crops, for the same reason: the four corners at 90%, and 10, 15 or 20% cut off one
# side (a caption strip, a watermark). kind -> (kept width, kept height, horizontal and vertical anchor).
OFF_CENTRE_CROPS = {
    "crop90-tl": (0.9, 0.9, 0.0, 0.0),
    "crop90-tr": (0.9, 0.9, 1.0, 0.0),
    "crop90-bl": (0.9, 0.9, 0.0, 1.0),
    "crop90-br": (0.9, 0.9, 1.0, 1.0),
    "cut10-top": (1.0, 0.9, 0.5, 1.0),
    "cut10-bottom": (1.0, 0.9, 0.5, 0.0),
    "cut10-left": (0.9, 1.0, 1.0, 0.5),
    "cut10-right": (0.9, 1.0, 0.0, 0.5),
    "cut15-top": (1.0, 0.85, 0.5, 1.0),
    "cut15-bottom": (1.0, 0.85, 0.5, 0.0),
    "cut15-left": (0.85, 1.0, 1.0, 0.5),
    "cut15-right": (0.85, 1.0, 0.0, 0.5),
    "cut20-top": (1.0, 0.8, 0.5, 1.0),
    "cut20-bottom": (1.0, 0.8, 0.5, 0.0),
    "cut20-left": (0.8, 1.0, 1.0, 0.5),
    "cut20-right": (0.8, 1.0, 0.0, 0.5),
}
# A border row or column: every pixel within this many grey levels of the border's colour
# (JPEG smears edges by a few levels).
BORDER_TOLERANCE = 24
# Trimming that would keep less than this share of a side is content, not a border.
MIN_KEPT = 0.5


def trim_borders(image: PILImage.Image) -> PILImage.Image | None:
    """The image without uniform borders or letterboxing (each side trimmed on its own), or None
    when it has none worth trimming."""
    pixels = np.asarray(image.convert("L"), dtype=np.int16)
    height, width = pixels.shape

    def uniform(line: np.ndarray, colour: int) -> bool:
        return int(np.abs(line - colour).max()) <= BORDER_TOLERANCE

    def run(lines, colour) -> int:
        count = 0
        for line in lines:
            if not uniform(line, colour):
                break
            count += 1
        return count

    top = run(pixels, int(np.median(pixels[0])))
    bottom = run(pixels[::-1], int(np.median(pixels[-1])))
    left = run(pixels.T, int(np.median(pixels[:, 0])))
    right = run(pixels.T[::-1], int(np.median(pixels[:, -1])))
    kept_w, kept_h = width - left - right, height - top - bottom
    if kept_w < width * MIN_KEPT or kept_h < height * MIN_KEPT:
        return None
    # A line or two of edge is noise, not a border.
    if max(top, bottom, left, right) < max(2, round(0.01 * max(width, height))):
        return None
    return image.crop((left, top, width - right, height - bottom))


def central_crop(image: PILImage.Image, fraction: float) -> PILImage.Image:
    return anchored_crop(image, fraction, fraction, 0.5, 0.5)


def anchored_crop(
    image: PILImage.Image, keep_w: float, keep_h: float, ax: float, ay: float
) -> PILImage.Image:
    """Keep `keep_w` x `keep_h` of the image; the anchors place it (0: left/top, 1: right/bottom)."""
    width, height = image.size
    left, top = width * (1 - keep_w) * ax, height * (1 - keep_h) * ay
    return image.crop((round(left), round(top), round(left + width * keep_w), round(top + height * keep_h)))


def pdq_variants(image: PILImage.Image) -> list[HashVariant]:
    """PDQ hashes of what re-uploaders do to an image: the eight dihedral transforms (mirror,
    quarter turns; "plain" is the image as is), the image with its borders trimmed, a few
    central crops, the corners and one side cut off."""
    arr = np.ascontiguousarray(np.asarray(image.convert("RGB")))
    hashes, quality = pdqhash.compute_dihedral(arr)
    found = [
        HashVariant(kind, _hex(bits), int(quality)) for kind, bits in zip(DIHEDRAL_KINDS, hashes, strict=True)
    ]
    trimmed = trim_borders(image)
    if trimmed is not None:
        found.append(HashVariant("trim", *compute_pdq(trimmed)))
    # The crops are of the picture as it is: a smooth sky or wall along one edge looks like a
    # border to `trim_borders`, and crops of a wrongly trimmed picture meet no copy. A bordered
    # copy still meets the original through its own "trim" hash.
    for kind, fraction in CROP_FRACTIONS.items():
        found.append(HashVariant(kind, *compute_pdq(central_crop(image, fraction))))
    for kind, placement in OFF_CENTRE_CROPS.items():
        found.append(HashVariant(kind, *compute_pdq(anchored_crop(image, *placement))))
    return found


def exif_taken_at(data: bytes) -> datetime | None:
    try:
        with PILImage.open(io.BytesIO(data)) as img:
            if img.format == "PNG" and "exif" not in img.info:
                # Pillow would decode every pixel to look for an eXIf chunk after the image data.
                return None
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
    decoded = decode_keeping_alpha(data)
    image = flatten(decoded)
    small = working_copy(image)
    # The thumbnail keeps transparency (WebP has alpha); everything else sees the flattened image.
    thumb_source = small if decoded.mode == "RGB" else working_copy(decoded)
    if settings.THUMBNAIL_SIZE > WORKING_SIZE:
        thumb_source = decoded
    thumbnail = Thumbnail(make_thumbnail(thumb_source), make_renditions(decoded))
    del decoded, thumb_source
    variants = pdq_variants(small)
    pdq, quality = variants[0].pdq_hash, variants[0].quality  # "plain": the image as it is
    inputs = model_inputs(image) if model_inputs else None
    return Prepared(
        image=None if model_inputs else image,
        model_inputs=inputs,
        thumbnail=thumbnail,
        pdq_hash=pdq,
        pdq_quality=quality,
        taken_at=exif_taken_at(data),
        pdq_variants=variants,
    )
