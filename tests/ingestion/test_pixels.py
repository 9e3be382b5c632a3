"""Correct pixels: transparency kept in thumbnails and matted white for the encoder, wide (16-bit,
float) images tone-mapped, HEIC and AVIF accepted and decoded."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image as PILImage

from ingestion.processing import decode, prepare
from ingestion.validation import InvalidImage, validate_image_bytes
from tests.factories import draw_image, image_bytes


def thumbnail_of(data: bytes) -> PILImage.Image:
    thumb = PILImage.open(io.BytesIO(prepare(data).thumbnail))
    thumb.load()
    return thumb


def transparent_png() -> bytes:
    """A red disc on a fully transparent field whose hidden colour is black."""
    picture = draw_image("circle", color=(200, 30, 30), background=(0, 0, 0)).convert("RGBA")
    alpha = np.where(np.asarray(picture)[..., 0] > 100, 255, 0).astype(np.uint8)
    picture.putalpha(PILImage.fromarray(alpha))
    return image_bytes(picture, "PNG")


def test_transparency_is_kept_in_the_thumbnail_and_matted_white_for_the_encoder() -> None:
    data = transparent_png()
    thumb = thumbnail_of(data)
    assert thumb.mode == "RGBA"
    assert thumb.getpixel((0, 0))[3] == 0  # the corner stays transparent
    assert thumb.getpixel((thumb.width // 2, thumb.height // 2))[3] == 255
    flat = decode(data)
    assert flat.mode == "RGB"
    assert flat.getpixel((0, 0)) == (255, 255, 255)  # not the black hidden under the alpha
    assert flat.getpixel((160, 120)) == (200, 30, 30)


def test_palette_transparency_too() -> None:
    picture = PILImage.new("P", (40, 30), 0)
    picture.putpalette([0, 0, 0, 10, 200, 10] + [0] * 762)
    picture.paste(1, (10, 10, 30, 20))
    data = image_bytes(picture, "PNG", transparency=0)
    assert thumbnail_of(data).getpixel((0, 0))[3] == 0
    assert decode(data).getpixel((0, 0)) == (255, 255, 255)


def test_opaque_images_stay_rgb() -> None:
    thumb = thumbnail_of(image_bytes(draw_image("square"), "PNG"))
    assert thumb.mode == "RGB"


def test_sixteen_bit_grey_is_scaled_from_its_depth_not_clipped_white() -> None:
    ramp = np.tile(np.linspace(0, 65535, 64, dtype=np.uint16), (48, 1))
    data = image_bytes(PILImage.fromarray(ramp), "PNG")
    grey = np.asarray(decode(data))[..., 0]
    assert grey[0, 0] == 0 and grey[0, -1] == 255
    assert 120 <= grey[0, 32] <= 135  # the middle of the range is mid-grey (was 255)


@pytest.mark.parametrize(("low", "high"), [(0.0, 1.0), (-3.5, 1200.0)])
def test_float_tiffs_are_tone_mapped_not_black(low: float, high: float) -> None:
    ramp = np.tile(np.linspace(low, high, 64, dtype=np.float32), (48, 1))
    ramp[0, 1] = np.nan  # a bad sample does not spoil the rest
    data = image_bytes(PILImage.fromarray(ramp), "TIFF")
    grey = np.asarray(decode(data))[..., 0]
    assert grey[5, 0] == 0 and grey[5, -1] == 255
    assert 110 <= grey[5, 32] <= 145


@pytest.mark.parametrize(("fmt", "extension"), [("HEIF", "heic"), ("AVIF", "avif")])
def test_heic_and_avif_are_accepted_and_decoded(fmt: str, extension: str) -> None:
    data = image_bytes(draw_image("square", color=(20, 60, 220)), fmt, quality=90)
    validated = validate_image_bytes(data, f"photo.{extension}")
    assert (validated.format, validated.extension, validated.width, validated.height) == (
        fmt,
        extension,
        320,
        240,
    )
    r, g, b = decode(data).getpixel((160, 120))
    assert b > 180 and r < 70  # the blue square survived the codec
    assert prepare(data).thumbnail[:4] == b"RIFF"


def test_a_renamed_text_file_is_still_refused() -> None:
    with pytest.raises(InvalidImage, match="notes.heic"):
        validate_image_bytes(b"just words", "notes.heic")
