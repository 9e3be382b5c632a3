"""Upload validation: real decodes within limits, clear messages for everything else."""

from __future__ import annotations

import hashlib
import io

import pytest

from ingestion.validation import InvalidImage, validate_image_bytes, validate_upload
from tests.factories import draw_image, image_bytes

FORMATS = [
    ("PNG", "png", {}),
    ("JPEG", "jpg", {"quality": 90}),
    ("WEBP", "webp", {}),
    ("GIF", "gif", {}),
    ("BMP", "bmp", {}),
    ("TIFF", "tiff", {}),
]


@pytest.mark.parametrize(("fmt", "extension", "save_args"), FORMATS)
def test_allowed_formats_are_accepted(fmt: str, extension: str, save_args: dict) -> None:
    data = image_bytes(draw_image("square", size=(90, 60)), fmt, **save_args)
    validated = validate_image_bytes(data, f"x.{extension}")
    assert (validated.format, validated.extension) == (fmt, extension)
    assert (validated.width, validated.height) == (90, 60)
    assert validated.sha256 == hashlib.sha256(data).hexdigest()
    assert validated.size_bytes == len(data)


def test_validate_upload_reads_a_file_object() -> None:
    data = image_bytes(draw_image("circle"), "PNG")
    assert validate_upload(io.BytesIO(data), "c.png").data == data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "'bad.bin' is empty."),
        (b"just some text, not a picture\n" * 20, "'bad.bin' is not an image Pillow can read."),
        (b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n", "not an image Pillow can read"),
    ],
)
def test_non_images_are_rejected(data: bytes, message: str) -> None:
    with pytest.raises(InvalidImage, match=message):
        validate_image_bytes(data, "bad.bin")


def test_truncated_jpeg_is_damaged() -> None:
    data = image_bytes(draw_image("stripes"), "JPEG")
    with pytest.raises(InvalidImage, match="damaged or unreadable"):
        validate_image_bytes(data[: len(data) // 2], "half.jpg")


def test_a_format_that_is_not_allowed_names_the_accepted_ones() -> None:
    data = image_bytes(draw_image("circle", size=(32, 32)), "ICO")
    with pytest.raises(InvalidImage) as caught:
        validate_image_bytes(data, "icon.ico")
    assert "ICO" in str(caught.value)
    assert "accepted formats: AVIF, BMP, GIF, HEIF, JPEG, PNG, TIFF, WEBP" in str(caught.value)


def test_too_many_bytes(settings) -> None:
    data = image_bytes(draw_image("circle"), "PNG")
    settings.MAX_UPLOAD_BYTES = 1024 * 1024 // 2
    big = image_bytes(draw_image("circle", size=(1200, 1200)), "BMP")
    assert len(big) > settings.MAX_UPLOAD_BYTES > len(data)
    with pytest.raises(InvalidImage, match=r"'big.bmp' is too large \(4.1 MB\); the limit is 0.5 MB"):
        validate_image_bytes(big, "big.bmp")
    # A stream is cut off at the limit instead of being read whole.
    with pytest.raises(InvalidImage, match=r"too large; the limit is 0.5 MB"):
        validate_upload(io.BytesIO(big), "big.bmp")
    assert validate_upload(io.BytesIO(data), "ok.png").data == data


def test_too_many_pixels(settings) -> None:
    settings.MAX_IMAGE_PIXELS = 2_000_000
    data = image_bytes(draw_image("square", size=(2000, 1500)), "PNG")
    with pytest.raises(InvalidImage, match=r"is 2000x1500 \(3 megapixels\); the limit is 2 megapixels"):
        validate_image_bytes(data, "wide.png")


@pytest.mark.parametrize(
    ("orientation", "size"), [(1, (320, 240)), (3, (320, 240)), (6, (240, 320)), (8, (240, 320))]
)
def test_dimensions_are_as_the_image_is_seen(orientation: int, size: tuple[int, int]) -> None:
    picture = draw_image("circle", size=(320, 240))
    exif = picture.getexif()
    exif[0x0112] = orientation
    validated = validate_image_bytes(image_bytes(picture, "JPEG", exif=exif.tobytes()), "turned.jpg")
    assert (validated.width, validated.height) == size
