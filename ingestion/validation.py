"""Upload validation: a file is accepted only if Pillow really decodes it within the limits."""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from typing import IO

from django.conf import settings
from PIL import Image as PILImage
from PIL import UnidentifiedImageError

from core.errors import BadInput, PayloadTooLarge

from .processing import decode, heavy_decode

# Pillow format name -> stored file extension.
ALLOWED_FORMATS = {
    "JPEG": "jpg",
    "PNG": "png",
    "WEBP": "webp",
    "GIF": "gif",
    "BMP": "bmp",
    "TIFF": "tiff",
    "AVIF": "avif",  # Pillow's own plugin
    "HEIF": "heic",  # iPhone photos: pillow-heif's opener, registered in ingestion/apps.py
}


class InvalidImage(BadInput):
    """The upload is not an acceptable image; the message is shown to the user as is."""


@dataclass(frozen=True)
class ValidatedImage:
    data: bytes
    format: str
    extension: str
    width: int
    height: int
    sha256: str

    @property
    def size_bytes(self) -> int:
        return len(self.data)


def _megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


def read_limited(fileobj: IO[bytes], limit: int) -> bytes:
    """Read at most `limit` bytes; a longer stream is rejected without reading it all."""
    data = fileobj.read(limit + 1)
    if len(data) > limit:
        raise InvalidImage(f"The file is too large; the limit is {_megabytes(limit)}.")
    return data


EXIF_ORIENTATION = 0x0112
QUARTER_TURNS = {5, 6, 7, 8}


def validate_image_bytes(data: bytes, name: str = "") -> ValidatedImage:
    label = f"'{name}'" if name else "The file"
    if not data:
        raise InvalidImage(f"{label} is empty.")
    if len(data) > settings.MAX_UPLOAD_BYTES:
        raise InvalidImage(
            f"{label} is too large ({_megabytes(len(data))}); "
            f"the limit is {_megabytes(settings.MAX_UPLOAD_BYTES)}."
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)
            with PILImage.open(io.BytesIO(data)) as img:
                fmt = img.format or ""
                width, height = img.size
                if fmt not in ALLOWED_FORMATS:
                    allowed = ", ".join(sorted(ALLOWED_FORMATS))
                    raise InvalidImage(f"{label} is a {fmt or 'unknown'} image; accepted formats: {allowed}.")
                check_pixels(width, height, label)
                with heavy_decode(width * height):  # a full decode: catches truncated and corrupt data
                    img.load()
                # Width and height as the image is seen: EXIF orientations 5-8 turn it a quarter.
                if img.getexif().get(EXIF_ORIENTATION, 1) in QUARTER_TURNS:
                    width, height = height, width
    except InvalidImage:
        raise
    except UnidentifiedImageError:
        raise InvalidImage(f"{label} is not an image Pillow can read.") from None
    except PILImage.DecompressionBombError:
        raise InvalidImage(f"{label} has too many pixels to process safely.") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InvalidImage(f"{label} is a damaged or unreadable image ({exc}).") from None
    return ValidatedImage(
        data=data,
        format=fmt,
        extension=ALLOWED_FORMATS[fmt],
        width=width,
        height=height,
        sha256=hashlib.sha256(data).hexdigest(),
    )


def check_pixels(width: int, height: int, label: str = "The image") -> None:
    limit = settings.MAX_IMAGE_PIXELS
    if width <= 0 or height <= 0:
        raise InvalidImage(f"{label} has no pixels.")
    if width * height > limit:
        raise InvalidImage(
            f"{label} is {width}x{height} ({width * height / 1e6:.0f} megapixels); "
            f"the limit is {limit / 1e6:.0f} megapixels."
        )


# Room for the multipart framing and the other form fields next to the file.
REQUEST_OVERHEAD_BYTES = 1024 * 1024


def check_request_size(request, files: int = 1) -> None:
    """Refuse an oversized body from its Content-Length, before Django spools it to disk."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    limit = files * settings.MAX_UPLOAD_BYTES + REQUEST_OVERHEAD_BYTES
    if length > limit:
        raise PayloadTooLarge(
            f"The upload is too large ({_megabytes(length)}); "
            f"the limit is {_megabytes(settings.MAX_UPLOAD_BYTES)} per image."
        )


def validate_upload(fileobj: IO[bytes], name: str = "") -> ValidatedImage:
    return validate_image_bytes(read_limited(fileobj, settings.MAX_UPLOAD_BYTES), name)


# The example image of a search is only ever seen by the model (224 pixels): it is decoded at a
# bounded size and handed on small, never validated at full size like an upload.
QUERY_IMAGE_FORMAT = "PNG"


def reduce_query_image(data: bytes, name: str = "") -> bytes:
    """The example image of a search, decoded within MAX_QUERY_IMAGE_PIXELS (counted at the reduced
    size JPEG decodes to) and reduced to at most QUERY_IMAGE_SIDE: the bytes the query worker gets."""
    label = f"'{name}'" if name else "The image"
    if not data:
        raise InvalidImage(f"{label} is empty.")
    side, limit = settings.QUERY_IMAGE_SIDE, settings.MAX_QUERY_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)
            with PILImage.open(io.BytesIO(data)) as img:
                fmt, (width, height) = img.format or "", img.size
        if fmt not in ALLOWED_FORMATS:
            allowed = ", ".join(sorted(ALLOWED_FORMATS))
            raise InvalidImage(f"{label} is a {fmt or 'unknown'} image; accepted formats: {allowed}.")
        check_pixels(width, height, label)  # the upload limit holds too
        image = decode(data, max_side=side, max_pixels=limit)
    except InvalidImage:
        raise
    except UnidentifiedImageError:
        raise InvalidImage(f"{label} is not an image Pillow can read.") from None
    except ValueError as exc:
        if "megapixels" in str(exc):
            raise InvalidImage(
                f"{label} is {width}x{height} ({width * height / 1e6:.0f} megapixels); the limit for a "
                f"search image is {limit / 1e6:.0f} megapixels (larger JPEGs are fine)."
            ) from None
        raise InvalidImage(f"{label} is a damaged or unreadable image ({exc}).") from None
    except (OSError, SyntaxError, EOFError, PILImage.DecompressionBombError) as exc:
        raise InvalidImage(f"{label} is a damaged or unreadable image ({exc}).") from None
    if max(image.size) > side:
        image.thumbnail((side, side), PILImage.Resampling.BICUBIC)
    out = io.BytesIO()
    image.save(out, format=QUERY_IMAGE_FORMAT, compress_level=1)  # lossless; fast over size
    return out.getvalue()
