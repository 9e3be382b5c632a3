"""Per-image processing: orientation, colour modes, thumbnails, PDQ hashes, EXIF dates."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from PIL import Image as PILImage

from ingestion.processing import EXIF_DATETIME_ORIGINAL, EXIF_IFD, decode, exif_taken_at, prepare
from tests.factories import draw_image, image_bytes

ORIENTATION = 0x0112


def jpeg_with_exif(image: PILImage.Image, orientation: int | None = None, taken: str | None = None) -> bytes:
    exif = PILImage.Exif()
    if orientation is not None:
        exif[ORIENTATION] = orientation
    if taken is not None:
        exif.get_ifd(EXIF_IFD)[EXIF_DATETIME_ORIGINAL] = taken
    return image_bytes(image, "JPEG", exif=exif.tobytes(), quality=95)


def test_exif_orientation_is_applied() -> None:
    # A camera held upright stores a landscape frame plus "rotate 90° clockwise" (orientation 6).
    picture = PILImage.new("RGB", (120, 60), (255, 255, 255))
    picture.paste((255, 0, 0), (0, 0, 20, 60))  # a red band on the stored frame's left edge
    data = jpeg_with_exif(picture, orientation=6)
    with PILImage.open(io.BytesIO(data)) as raw:
        assert raw.size == (120, 60)

    decoded = decode(data)
    assert decoded.mode == "RGB"
    assert decoded.size == (60, 120)
    # Rotated clockwise, the left edge becomes the top.
    top, bottom = decoded.getpixel((30, 5)), decoded.getpixel((30, 115))
    assert top[0] > 200 and top[1] < 60, top
    assert min(bottom) > 200, bottom


@pytest.mark.parametrize("mode", ["RGBA", "P", "L", "CMYK"])
def test_every_mode_decodes_to_rgb(mode: str) -> None:
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    data = image_bytes(draw_image("triangle", mode=mode), fmt)
    decoded = decode(data)
    assert decoded.mode == "RGB"
    assert decoded.size == (320, 240)


def test_first_frame_of_an_animation() -> None:
    frames = [PILImage.new("RGB", (40, 30), c) for c in [(255, 0, 0), (0, 0, 255)]]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    decoded = decode(out.getvalue())
    assert decoded.getpixel((5, 5))[0] > 200


@pytest.mark.parametrize("size", [(1600, 900), (300, 2000), (100, 80)])
def test_thumbnail_is_webp_within_the_size(settings, size: tuple[int, int]) -> None:
    settings.THUMBNAIL_SIZE = 256
    prepared = prepare(image_bytes(draw_image("stripes", size=size), "PNG"))
    with PILImage.open(io.BytesIO(prepared.thumbnail)) as thumb:
        assert thumb.format == "WEBP"
        assert max(thumb.size) <= 256
        if max(size) > 256:
            assert max(thumb.size) == 256  # shrunk to fit, aspect ratio kept
            assert thumb.size[0] / thumb.size[1] == pytest.approx(size[0] / size[1], rel=0.02)
        else:
            assert thumb.size == size  # never enlarged


def test_pdq_hash_is_stable_and_discriminating() -> None:
    circle = prepare(image_bytes(draw_image("circle"), "PNG"))
    again = prepare(image_bytes(draw_image("circle"), "PNG"))
    stripes = prepare(image_bytes(draw_image("stripes"), "PNG"))
    assert len(circle.pdq_hash) == 64
    int(circle.pdq_hash, 16)  # hex
    assert 0 <= circle.pdq_quality <= 100
    assert circle.pdq_hash == again.pdq_hash
    distance = bin(int(circle.pdq_hash, 16) ^ int(stripes.pdq_hash, 16)).count("1")
    assert distance > 32, distance


def test_pdq_hash_survives_re_encoding() -> None:
    png = prepare(image_bytes(draw_image("triangle"), "PNG"))
    jpeg = prepare(image_bytes(draw_image("triangle"), "JPEG", quality=70))
    distance = bin(int(png.pdq_hash, 16) ^ int(jpeg.pdq_hash, 16)).count("1")
    assert distance <= 16, distance


def test_exif_date_time_original() -> None:
    data = jpeg_with_exif(draw_image("square"), taken="2021:05:04 10:20:30")
    expected = datetime(2021, 5, 4, 10, 20, 30, tzinfo=UTC)
    assert exif_taken_at(data) == expected
    assert prepare(data).taken_at == expected


@pytest.mark.parametrize("taken", [None, "not a date", "0000:00:00 00:00:00"])
def test_missing_or_bad_exif_date_is_none(taken: str | None) -> None:
    data = jpeg_with_exif(draw_image("square"), taken=taken)
    assert exif_taken_at(data) is None
    assert exif_taken_at(image_bytes(draw_image("square"), "PNG")) is None
