"""Location, serial numbers and owner names leave the copy others get; pixels, orientation and colour
profile stay."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from django.core.files.storage import default_storage
from PIL import Image as PILImage
from PIL import ImageCms, ImageOps
from PIL.TiffImagePlugin import IFDRational

from ingestion import metadata
from ingestion.metadata import Location, public_copy, public_copy_name, read_location, sanitise
from tests.factories import draw_image, image_bytes, make_image, make_user, noise_png

SERIAL = "BODY-SN-0042917"
LENS_SERIAL = "LENS-SN-77812"
OWNER_NAME = "Jane Q. Photographer"
ARTIST = "Jane's camera name setting"
MAKER_NOTE = b"VENDOR-SN-555123"
VENDOR_TAG = "VENDOR-TAG-SN-31337"  # a serial in a tag no standard names
SECRETS = (SERIAL, LENS_SERIAL, OWNER_NAME, ARTIST, VENDOR_TAG)
SECRETS = (*(secret.encode() for secret in SECRETS), MAKER_NOTE)
ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
BERLIN = Location(52.520094, -13.4)  # 52°31'12.34"N 13°24'0"W


def private_exif(orientation: int = 6) -> PILImage.Exif:
    exif = PILImage.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "Canon"
    exif[0x0110] = "EOS R5"
    exif[0x013B] = ARTIST
    sub = exif.get_ifd(metadata.EXIF_IFD)
    sub[0x9003] = "2021:06:05 14:30:00"  # DateTimeOriginal: kept
    sub[0xA431] = SERIAL  # BodySerialNumber
    sub[0xA435] = LENS_SERIAL
    sub[0xA430] = OWNER_NAME  # CameraOwnerName
    sub[0x927C] = MAKER_NOTE
    sub[0xC7A1] = VENDOR_TAG
    gps = exif.get_ifd(metadata.GPS_IFD)
    gps[1] = "N"
    gps[2] = (IFDRational(52), IFDRational(31), IFDRational(1234, 100))
    gps[3] = "W"
    gps[4] = (IFDRational(13), IFDRational(24), IFDRational(0))
    return exif


def photo(fmt: str = "JPEG", size=(96, 64), color=(20, 120, 200), **save_args) -> bytes:
    """A Pillow-drawn photo carrying GPS, serials, the owner's name, an ICC profile and orientation 6."""
    picture = draw_image("triangle", size=size, color=color)
    return image_bytes(picture, fmt, exif=private_exif(), icc_profile=ICC, **save_args)


def pixels(data: bytes) -> np.ndarray:
    with PILImage.open(io.BytesIO(data)) as img:
        return np.asarray(ImageOps.exif_transpose(img).convert("RGB"))


def assert_private_data_gone(clean: bytes) -> None:
    assert read_location(clean) is None
    for secret in SECRETS:
        assert secret not in clean
    with PILImage.open(io.BytesIO(clean)) as img:
        exif = img.getexif()
        assert metadata.GPS_IFD not in exif
        assert not exif.get_ifd(metadata.GPS_IFD)
        sub = exif.get_ifd(metadata.EXIF_IFD)
        assert not set(sub) & metadata.PRIVATE_EXIF_TAGS
        assert not img.info.get("xmp")


def test_the_test_photo_carries_what_must_go() -> None:
    data = photo()
    assert read_location(data) == BERLIN
    assert all(secret in data for secret in SECRETS)


def test_jpeg_loses_location_and_serials_keeps_pixels_orientation_and_profile() -> None:
    xmp = b"<x:xmpmeta><exif:GPSLatitude>52,31N</exif:GPSLatitude></x:xmpmeta>"
    data = photo("JPEG", quality=90, xmp=xmp)
    assert b"GPSLatitude" in data
    clean = sanitise(data, "JPEG")

    assert_private_data_gone(clean)
    assert b"GPSLatitude" not in clean  # the XMP block is gone too
    with PILImage.open(io.BytesIO(clean)) as img:
        exif = img.getexif()
        assert exif[0x0112] == 6
        assert (exif[0x010F], exif[0x0110]) == ("Canon", "EOS R5")
        assert exif.get_ifd(metadata.EXIF_IFD)[0x9003] == "2021:06:05 14:30:00"
        assert img.info["icc_profile"] == ICC
    # The container is rewritten, not the picture: the same decoded pixels, shown the same way up.
    assert np.array_equal(pixels(clean), pixels(data))
    assert pixels(clean).shape[:2] == (96, 64)


def test_progressive_jpeg_with_restart_markers_keeps_every_scan() -> None:
    data = photo("JPEG", size=(160, 120), progressive=True, restart_marker_blocks=2)
    clean = sanitise(data, "JPEG")
    assert_private_data_gone(clean)
    assert np.array_equal(pixels(clean), pixels(data))


def test_jpeg_trailer_after_the_end_marker_is_dropped() -> None:
    # Phones append more pictures (MPF) after the first image's end, each with its own EXIF.
    trailer = photo("JPEG", size=(32, 32))
    data = photo("JPEG") + trailer
    clean = sanitise(data, "JPEG")
    assert_private_data_gone(clean)
    assert clean.endswith(b"\xff\xd9")
    assert np.array_equal(pixels(clean), pixels(data))


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_png_and_webp_lose_location_keep_orientation_and_profile(fmt: str) -> None:
    save_args = {"lossless": True} if fmt == "WEBP" else {}
    data = photo(fmt, xmp=b"<x:xmpmeta>GPSLongitude</x:xmpmeta>", **save_args)
    assert read_location(data) == BERLIN
    clean = sanitise(data, fmt)
    assert_private_data_gone(clean)
    assert b"GPSLongitude" not in clean
    with PILImage.open(io.BytesIO(clean)) as img:
        assert img.getexif()[0x0112] == 6
        assert img.info["icc_profile"] == ICC
    assert np.array_equal(pixels(clean), pixels(data))


def test_webp_extended_header_no_longer_announces_removed_chunks() -> None:
    data = photo("WEBP", lossless=True, xmp=b"<x:xmpmeta/>")
    clean = sanitise(data, "WEBP")
    (riff_size,) = struct.unpack("<I", clean[4:8])
    assert riff_size == len(clean) - 8
    flags = clean[20]  # VP8X is the first chunk: its flags byte follows its 8-byte header
    assert clean[12:16] == b"VP8X"
    assert not flags & 0x04  # no XMP
    assert flags & 0x08 and flags & 0x20  # EXIF (cleaned) and ICC still there


def test_tiff_is_re_encoded_upright_without_location() -> None:
    picture = draw_image("triangle", size=(96, 64), color=(20, 120, 200))
    exif = private_exif()
    # Pillow's TIFF writer takes sub-IFDs as dicts set on IFD0.
    exif[metadata.GPS_IFD] = dict(exif.get_ifd(metadata.GPS_IFD))
    exif[metadata.EXIF_IFD] = dict(exif.get_ifd(metadata.EXIF_IFD))
    data = image_bytes(picture, "TIFF", exif=exif, icc_profile=ICC)
    assert read_location(data) == BERLIN and SERIAL.encode() in data
    clean = sanitise(data, "TIFF")
    assert_private_data_gone(clean)
    with PILImage.open(io.BytesIO(clean)) as img:
        assert img.info["icc_profile"] == ICC
        assert img.getexif().get(0x010F) == "Canon"
    assert np.array_equal(pixels(clean), pixels(data))  # lossless, and the same way up


def test_gif_xmp_application_extension_is_dropped() -> None:
    plain = image_bytes(draw_image("circle").convert("P"), "GIF")
    header_end = 13 + 3 * 2 ** ((plain[10] & 7) + 1)
    xmp = b"<x:xmpmeta>GPSLatitude 52,31N</x:xmpmeta>"
    extension = b"\x21\xff\x0bXMP DataXMP" + bytes((len(xmp),)) + xmp + b"\x00"
    data = plain[:header_end] + extension + plain[header_end:]
    assert np.array_equal(pixels(data), pixels(plain))
    clean = sanitise(data, "GIF")
    assert b"GPSLatitude" not in clean
    assert clean == plain


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "BMP"])
def test_a_file_without_private_metadata_is_left_byte_for_byte(fmt: str) -> None:
    data = image_bytes(draw_image("square").convert("P" if fmt == "GIF" else "RGB"), fmt)
    assert sanitise(data, fmt) == data


def test_a_container_the_rewriter_cannot_follow_is_re_encoded_not_served() -> None:
    data = photo("JPEG")
    # A bogus segment length after the start marker: the rewriter gives up, Pillow re-encodes.
    broken = data[:2] + b"\xff\xe3\x00\x01" + data[2:]
    with pytest.raises(metadata.Unparseable):
        metadata._jpeg(broken)
    clean = sanitise(data[:2] + b"\xff\xfe\x00\x04ok" + data[2:], "JPEG")  # a comment: still rewritable
    assert_private_data_gone(clean)
    reencoded = metadata._reencode(data)
    assert_private_data_gone(reencoded)
    assert pixels(reencoded).shape == pixels(data).shape  # turned upright, as the original shows


def test_location_in_the_southern_and_western_hemispheres_and_garbage() -> None:
    exif = PILImage.Exif()
    gps = exif.get_ifd(metadata.GPS_IFD)
    gps.update({1: "S", 2: (IFDRational(33), IFDRational(52), IFDRational(0)), 3: "E"})
    gps[4] = (IFDRational(151), IFDRational(12), IFDRational(36))
    data = image_bytes(draw_image(), "JPEG", exif=exif)
    assert read_location(data) == Location(-33.866667, 151.21)
    assert read_location(b"not an image") is None
    assert read_location(image_bytes(draw_image(), "JPEG")) is None


@pytest.mark.django_db
def test_public_copy_is_made_once_and_removed_with_the_last_image(
    monkeypatch, django_capture_on_commit_callbacks
) -> None:
    calls = []
    real = metadata.sanitise
    monkeypatch.setattr(metadata, "sanitise", lambda data, fmt: calls.append(fmt) or real(data, fmt))
    owner = make_user()
    # Bytes no other test stores: stored files (and their copies) outlive a test's rolled-back rows.
    image = make_image(owner, data=photo("JPEG", color=tuple(int(c) for c in np.random.randint(0, 256, 3))))
    copy_name = public_copy_name(image.original.name)
    assert copy_name.startswith("public/") and copy_name.endswith(image.sha256 + ".jpg")

    assert public_copy(image.original.name, image.format) == copy_name
    assert public_copy(image.original.name, image.format) == copy_name
    assert calls == ["JPEG"]  # one pass per stored original
    with default_storage.open(copy_name, "rb") as fh:
        assert_private_data_gone(fh.read())

    with django_capture_on_commit_callbacks(execute=True):
        image.delete()
    assert not default_storage.exists(copy_name)
    assert not default_storage.exists(image.original.name)


@pytest.mark.django_db
def test_clean_original_is_served_itself_and_remembered(
    monkeypatch, django_capture_on_commit_callbacks
) -> None:
    calls = []
    real = metadata.sanitise
    monkeypatch.setattr(metadata, "sanitise", lambda data, fmt: calls.append(fmt) or real(data, fmt))
    image = make_image(make_user(), data=noise_png())
    assert public_copy(image.original.name, image.format) == image.original.name
    assert public_copy(image.original.name, image.format) == image.original.name
    assert calls == ["PNG"]
    assert not default_storage.exists(public_copy_name(image.original.name))
    with django_capture_on_commit_callbacks(execute=True):
        image.delete()
    assert not default_storage.exists(public_copy_name(image.original.name) + metadata.UNCHANGED_SUFFIX)


def test_a_text_tag_that_reads_on_into_other_tags_is_cut() -> None:
    # A damaged count makes Model run on into the bytes that followed it, serial number included.
    exif = PILImage.Exif()
    exif[0x0110] = "EOS R5\x00" + SERIAL
    data = image_bytes(draw_image(), "JPEG", exif=exif)
    assert SERIAL.encode() in data
    clean = sanitise(data, "JPEG")
    assert SERIAL.encode() not in clean
    with PILImage.open(io.BytesIO(clean)) as img:
        assert img.getexif()[0x0110] == "EOS R5"


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])  # PNG: a flipped byte breaks a CRC, Pillow refuses it
def test_no_damaged_file_lets_private_data_through(fmt: str) -> None:
    """Bytes flipped in the metadata of a photo Pillow still decodes (as an upload would be accepted):
    the copy never carries the location or any of the private strings."""
    rng = np.random.default_rng(8)
    original = photo(fmt)
    tried = 0
    for _ in range(400):
        damaged = bytearray(original)
        for pos in rng.integers(2, min(len(damaged), 700), size=int(rng.integers(1, 5))):
            damaged[pos] = int(rng.integers(0, 256))
        try:
            with PILImage.open(io.BytesIO(bytes(damaged))) as img:
                img.load()
        except Exception:
            continue  # refused at upload
        tried += 1
        clean = sanitise(bytes(damaged), fmt)
        assert read_location(clean) is None
        assert not [secret for secret in SECRETS if secret in clean]
    assert tried > 50


def test_exif_too_big_for_its_segment_keeps_the_orientation_alone() -> None:
    raw = private_exif().tobytes()
    minimal = metadata.clean_exif(raw, max_size=20)
    exif = PILImage.Exif()
    exif.load(minimal)
    assert dict(exif) == {0x0112: 6}
    assert metadata.clean_exif(raw).startswith(metadata.EXIF_HEADER)


# ---------------------------------------------------------------------------- free text (issue 15 item 8)
# PNG text chunks and GIF comments carry whatever an editor or a person put there: an author, a
# description with coordinates. None of it reaches the public copy; the colour profile does.

PNG_TEXTS = {
    "Author": "Jane Q. Photographer",  # tEXt
    "Comment": "zipped note: home is 52.520094, 13.404954",  # zTXt
    "Description": "Taken at 52.520094 N 13.404954 E, our back garden",  # iTXt, compressed
    "Title": "Uncompressed international text, Jane's",  # iTXt
}
GIF_COMMENT = "Comment: taken at 52.520094 N 13.404954 E by Jane"


def png_with_text() -> bytes:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Author", PNG_TEXTS["Author"])
    info.add_text("Comment", PNG_TEXTS["Comment"], zip=True)
    info.add_itxt("Description", PNG_TEXTS["Description"], lang="en", tkey="Beschreibung", zip=True)
    info.add_itxt("Title", PNG_TEXTS["Title"])
    picture = draw_image("triangle", size=(96, 64), color=(20, 120, 200))
    return image_bytes(picture, "PNG", pnginfo=info, icc_profile=ICC)


def png_chunk_kinds(data: bytes) -> list[bytes]:
    kinds, pos = [], len(metadata.PNG_SIGNATURE)
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kinds.append(data[pos + 4 : pos + 8])
        pos += 12 + length
    return kinds


def gif_application_extension(name: bytes, payload: bytes) -> bytes:
    return b"\x21\xff\x0b" + name + bytes((len(payload),)) + payload + b"\x00"


def gif_with_comment(icc: bytes = b"") -> bytes:
    """A GIF with a comment extension (Pillow's `comment=`), a plain-text extension, ImageMagick's
    IPTC block and, given `icc`, the ICC profile extension (short test bytes)."""
    plain = image_bytes(draw_image("circle").convert("P"), "GIF", comment=GIF_COMMENT)
    header_end = 13 + 3 * 2 ** ((plain[10] & 7) + 1)
    extra = gif_application_extension(b"MGK8BIM0000", b"IPTC by Jane Q. Photographer")
    extra += b"\x21\x01\x0c" + bytes(12) + b"\x0bPlain Jane!\x00"  # plain text extension
    if icc:
        extra += gif_application_extension(b"ICCRGBG1012", icc)
    return plain[:header_end] + extra + plain[header_end:]


def assert_no_free_text(clean: bytes) -> None:
    for text in (*PNG_TEXTS.values(), GIF_COMMENT, "Jane", "52.520094"):
        assert text.encode() not in clean
    with PILImage.open(io.BytesIO(clean)) as img:
        img.load()
        assert not getattr(img, "text", {})
        assert "comment" not in img.info
        assert not {"Author", "Comment", "Description", "Title"} & set(img.info)


def test_png_text_chunks_go_and_the_colour_profile_stays() -> None:
    data = png_with_text()
    with PILImage.open(io.BytesIO(data)) as img:
        assert img.text == PNG_TEXTS  # the test file carries all four, two of them compressed
    assert {b"tEXt", b"zTXt", b"iTXt"} <= set(png_chunk_kinds(data))
    clean = sanitise(data, "PNG")
    assert_no_free_text(clean)
    assert not {b"tEXt", b"zTXt", b"iTXt"} & set(png_chunk_kinds(clean))
    with PILImage.open(io.BytesIO(clean)) as img:
        assert img.info["icc_profile"] == ICC
    assert np.array_equal(pixels(clean), pixels(data))


def test_gif_comments_and_text_go_and_the_colour_profile_stays() -> None:
    icc_marker = b"ICC-PROFILE-BYTES-KEPT"
    data = gif_with_comment(icc=icc_marker)
    with PILImage.open(io.BytesIO(data)) as img:
        assert img.info["comment"] == GIF_COMMENT.encode()
    clean = sanitise(data, "GIF")
    assert_no_free_text(clean)
    assert b"\x21\xfe" not in clean and b"MGK8BIM0000" not in clean
    assert b"ICCRGBG1012" + bytes((len(icc_marker),)) + icc_marker in clean
    assert np.array_equal(pixels(clean), pixels(data))


def test_re_encoded_files_lose_comments_and_descriptions_too() -> None:
    exif = PILImage.Exif()
    exif[0x010E] = "ImageDescription: 52.520094, 13.404954"
    exif[0x010F] = "Canon"
    jpeg = image_bytes(draw_image(), "JPEG", exif=exif, comment=GIF_COMMENT)
    for data in (jpeg, gif_with_comment()):
        assert_no_free_text(metadata._reencode(data))
    clean = sanitise(jpeg, "JPEG")
    assert_no_free_text(clean)
    with PILImage.open(io.BytesIO(clean)) as img:
        assert img.getexif().get(0x010F) == "Canon" and 0x010E not in img.getexif()


@pytest.mark.django_db
def test_copies_made_by_an_older_sanitiser_are_not_served_again(django_capture_on_commit_callbacks) -> None:
    """A site upgraded from a version that kept text: its stored copies and "unchanged" marks are
    from before; the copy is made anew, and the old ones go with the image."""
    image = make_image(make_user(), data=png_with_text())
    old_mark = public_copy_name(image.original.name, version=1) + metadata.UNCHANGED_SUFFIX
    default_storage.save(old_mark, io.BytesIO(b""))  # the old sanitiser found nothing to remove
    served = public_copy(image.original.name, image.format)
    assert served == public_copy_name(image.original.name) != image.original.name
    with default_storage.open(served, "rb") as fh:
        assert_no_free_text(fh.read())
    with django_capture_on_commit_callbacks(execute=True):
        image.delete()
    assert not default_storage.exists(old_mark) and not default_storage.exists(served)
