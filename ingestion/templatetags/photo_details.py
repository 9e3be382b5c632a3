"""What the image page's metadata panel shows from a photo's EXIF: camera, lens, exposure, and the
size as displayed (after EXIF rotation). Location is the owner's alone (`private_metadata`)."""

from __future__ import annotations

from fractions import Fraction

from django import template
from django.core.files.storage import default_storage
from PIL import Image as PILImage

from ingestion.models import Image

register = template.Library()

EXIF_IFD = 0x8769
MAKE, MODEL = 0x010F, 0x0110
EXPOSURE_TIME, F_NUMBER, ISO, FOCAL_LENGTH, LENS_MODEL = 0x829A, 0x829D, 0x8827, 0x920A, 0xA434


def _text(value) -> str:
    return " ".join(str(value).replace("\x00", " ").split()) if value is not None else ""


def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return number if number > 0 and number == number else None


def exposure(exif_ifd) -> str:
    parts = []
    seconds = _number(exif_ifd.get(EXPOSURE_TIME))
    if seconds:
        parts.append(f"{seconds:g} s" if seconds >= 1 else f"1/{round(1 / seconds)} s")
    aperture = _number(exif_ifd.get(F_NUMBER))
    if aperture:
        parts.append(f"f/{aperture:.1f}".replace(".0", ""))
    iso = exif_ifd.get(ISO)
    iso = iso[0] if isinstance(iso, tuple | list) and iso else iso
    if _number(iso):
        parts.append(f"ISO {int(float(iso))}")
    focal = _number(exif_ifd.get(FOCAL_LENGTH))
    if focal:
        parts.append(f"{float(Fraction(focal).limit_denominator(10)):g} mm")
    return " · ".join(parts)


def read_details(fileobj) -> dict:
    """Camera, lens and exposure. (Width and height come from the row: validation stores them as
    the image is seen, after its EXIF orientation.)"""
    with PILImage.open(fileobj) as img:  # reads the header and metadata, not the pixels
        exif = img.getexif()
        exif_ifd = exif.get_ifd(EXIF_IFD)
    make, model = _text(exif.get(MAKE)), _text(exif.get(MODEL))
    # "Canon" + "Canon EOS R5" reads "Canon EOS R5", not "Canon Canon EOS R5".
    repeats = make and model.lower().startswith(make.lower().split()[0])
    camera = model if repeats else f"{make} {model}".strip()
    return {
        "camera": camera,
        "lens": _text(exif_ifd.get(LENS_MODEL)),
        "exposure": exposure(exif_ifd),
    }


@register.simple_tag
def photo_details(image: Image) -> dict:
    plain = {"width": image.width, "height": image.height, "camera": "", "lens": "", "exposure": ""}
    if not image.original.name:
        return plain
    try:
        with default_storage.open(image.original.name, "rb") as fh:
            return {**plain, **read_details(fh)}
    except (OSError, ValueError, SyntaxError, PILImage.DecompressionBombError):
        return plain  # the panel still shows what the database knows
