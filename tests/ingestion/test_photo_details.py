"""The image page's metadata panel: camera, lens and exposure from EXIF, and the size as shown
after EXIF rotation."""

from __future__ import annotations

import io

import pytest
from django.test import Client
from PIL import Image as PILImage
from PIL.TiffImagePlugin import IFDRational

from ingestion.templatetags.photo_details import read_details
from tests.factories import draw_image, make_image, make_user


def photo_with_exif(orientation: int = 6) -> bytes:
    exif = PILImage.Exif()
    exif[0x010F] = "Canon"
    exif[0x0110] = "Canon EOS R5"
    exif[0x0112] = orientation
    ifd = exif.get_ifd(0x8769)
    ifd[0x829A] = IFDRational(1, 250)
    ifd[0x829D] = IFDRational(28, 10)
    ifd[0x8827] = 400
    ifd[0x920A] = IFDRational(35, 1)
    ifd[0xA434] = "RF24-70mm F2.8 L IS USM"
    out = io.BytesIO()
    draw_image("square").save(out, format="JPEG", exif=exif.tobytes())
    return out.getvalue()


def test_details_read_from_exif() -> None:
    details = read_details(io.BytesIO(photo_with_exif()))
    assert details == {
        "camera": "Canon EOS R5",
        "lens": "RF24-70mm F2.8 L IS USM",
        "exposure": "1/250 s · f/2.8 · ISO 400 · 35 mm",
    }


def test_a_picture_without_exif_has_only_its_size() -> None:
    out = io.BytesIO()
    draw_image("circle").save(out, format="PNG")
    assert read_details(io.BytesIO(out.getvalue())) == {
        "camera": "",
        "lens": "",
        "exposure": "",
    }


@pytest.mark.django_db
def test_the_image_page_shows_them() -> None:
    image = make_image(make_user("alice"), data=photo_with_exif())
    html = Client().get(f"/images/{image.pk}/").content.decode()
    assert "240×320 JPEG" in html
    assert '<dd id="meta-camera">Canon EOS R5</dd>' in html
    assert "1/250 s · f/2.8 · ISO 400 · 35 mm" in html
