"""Private metadata in image files: read the location for the owner, strip it for everyone else.

A photo's EXIF can carry where it was taken (the GPS IFD) and what took it (body and lens serial
numbers, the camera owner's name, maker notes); XMP and IPTC blocks can repeat both. Originals stay
byte for byte as uploaded (the owner gets them); everyone else gets a sanitised copy, made once per
stored original and kept beside it (content-addressed, like the originals).

Free text goes too, whoever wrote it: JPEG comments, PNG text chunks (tEXt, zTXt, iTXt: an
"Author", a "Description" holding coordinates), GIF comment and plain-text extensions, the EXIF
ImageDescription and UserComment.

The copy is made by rewriting the container, not the pixels, wherever the format allows (JPEG, PNG,
WebP, GIF): the image data, orientation and colour profile are untouched and it costs one pass over
the bytes. TIFF keeps its metadata in the same directory as its pixel layout, so it is re-encoded
(losslessly). A file the rewriter cannot follow is re-encoded too: never served with its metadata.
"""

from __future__ import annotations

import contextlib
import io
import logging
import struct
import zlib
from dataclasses import dataclass
from typing import IO

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image as PILImage
from PIL import ImageOps, ImageSequence

from .models import Image

log = logging.getLogger(__name__)

EXIF_HEADER = b"Exif\x00\x00"
ORIENTATION = 0x0112
EXIF_IFD = 0x8769
GPS_IFD = 0x8825
# What the public copy keeps: an allowlist, since vendors put serial numbers and owner names in
# tags of their own. IFD0: how to show the picture and what made it; no GPS, XMP, IPTC, Artist,
# ImageDescription (free text, like a PNG's Description).
KEPT_IFD0_TAGS = frozenset(
    {
        0x010F,  # Make
        0x0110,  # Model
        ORIENTATION,
        0x011A,  # XResolution
        0x011B,  # YResolution
        0x0128,  # ResolutionUnit
        0x0131,  # Software
        0x0132,  # DateTime
        0x013E,  # WhitePoint
        0x013F,  # PrimaryChromaticities
        0x0211,  # YCbCrCoefficients
        0x0213,  # YCbCrPositioning
        0x0214,  # ReferenceBlackWhite
        0x8298,  # Copyright
        EXIF_IFD,
    }
)
# Exif IFD: exposure, lens and colour facts and the capture time; no serials, owner, maker notes,
# unique ids or comments.
KEPT_EXIF_TAGS = frozenset(
    {
        *(0x829A, 0x829D, 0x8822, 0x8827, 0x8830),  # exposure time, f-number, program, ISO
        *(0x9000, 0x9003, 0x9004, 0x9010, 0x9011, 0x9012, 0x9101),  # version, dates, time offsets
        *range(0x9201, 0x920B),  # shutter, aperture, brightness, bias, max aperture ... focal length
        *(0x9290, 0x9291, 0x9292),  # sub-second times
        *(0xA000, 0xA001, 0xA002, 0xA003),  # Flashpix version, colour space, pixel dimensions
        *(0xA20E, 0xA20F, 0xA210, 0xA217, 0xA300, 0xA301),  # focal plane, sensing method, source
        *range(0xA401, 0xA40D),  # rendering, exposure mode, white balance ... subject distance range
        *(0xA432, 0xA433, 0xA434, 0xA460, 0xA500),  # lens specification, make, model; composite; gamma
    }
)
# Longest kept text, byte string and list: the standard's values are far shorter.
MAX_TEXT, MAX_BYTES, MAX_ITEMS = 256, 64, 16
# Some of what goes, by name (the tests check these in particular).
PRIVATE_EXIF_TAGS = frozenset(
    {
        0x927C,  # MakerNote: vendor blocks hold serial numbers (and sometimes location)
        0x9286,  # UserComment
        0xA420,  # ImageUniqueID
        0xA430,  # CameraOwnerName
        0xA431,  # BodySerialNumber
        0xA435,  # LensSerialNumber
    }
)
# What a re-encoded file keeps of IFD0: what made it and when, nothing structural.
KEPT_ON_REENCODE = (0x010F, 0x0110, 0x0131, 0x0132, 0x8298)
PUBLIC_PREFIX = "public"
# Bumped whenever the copies lose more than before: copies made by an older sanitiser (or marked
# unchanged by it) are not served again, they are made anew under the new version's name.
SANITISER_VERSION = 2
UNCHANGED_SUFFIX = ".unchanged"


class Unparseable(ValueError):
    """The container is not what the rewriter expects: re-encode instead."""


@dataclass(frozen=True)
class Location:
    latitude: float
    longitude: float

    def __str__(self) -> str:
        return f"{self.latitude:.6f}, {self.longitude:.6f}"


# ---------------------------------------------------------------------------- reading


def _degrees(value) -> float:
    degrees, minutes, seconds = (float(part) for part in value)
    return degrees + minutes / 60 + seconds / 3600


def read_location(source: bytes | IO[bytes]) -> Location | None:
    """Where the photo was taken, from its GPS IFD; None when absent or unreadable. Given a file,
    only the header is read."""
    try:
        with PILImage.open(io.BytesIO(source) if isinstance(source, bytes) else source) as img:
            gps = img.getexif().get_ifd(GPS_IFD)
        latitude, longitude = _degrees(gps[2]), _degrees(gps[4])
        if str(gps.get(1, "N")).upper().startswith("S"):
            latitude = -latitude
        if str(gps.get(3, "E")).upper().startswith("W"):
            longitude = -longitude
    except (KeyError, TypeError, ValueError, ZeroDivisionError, OSError, SyntaxError):
        return None
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return None
    return Location(round(latitude, 6), round(longitude, 6))


# ---------------------------------------------------------------------------- EXIF


def _plain(value):
    """A kept value as the standard shapes it, or None: a damaged count can make a short text tag
    read on into the bytes of others (the serial numbers it was meant to leave out)."""
    if isinstance(value, str):
        return value.split("\x00", 1)[0][:MAX_TEXT]
    if isinstance(value, bytes):
        return value if len(value) <= MAX_BYTES else None
    if isinstance(value, tuple) and len(value) > MAX_ITEMS:
        return None
    return value


def _keep_only(directory, allowed: frozenset[int]) -> None:
    for tag in list(directory):
        value = _plain(directory[tag]) if tag in allowed else None
        if value is None:
            del directory[tag]
        elif value is not directory[tag]:
            directory[tag] = value


def _exif_without_private_tags(raw: bytes) -> PILImage.Exif:
    exif = PILImage.Exif()
    exif.load(raw)
    # Exif IFD first: get_ifd() caches it, and tobytes() writes the cached (cleaned) copy.
    if EXIF_IFD in exif:
        _keep_only(exif.get_ifd(EXIF_IFD), KEPT_EXIF_TAGS)
    _keep_only(exif, KEPT_IFD0_TAGS)
    return exif


def clean_exif(raw: bytes, max_size: int = 0xFFFF - 2) -> bytes | None:
    """The EXIF block (with its "Exif\\0\\0" header) with only the allowed tags: no location, serials
    or owner; the embedded thumbnail (IFD1) is dropped too. None when nothing is left. Should Pillow
    fail to write it, or it be too big for its segment, only the orientation is kept."""
    try:
        exif = _exif_without_private_tags(raw)
        cleaned = exif.tobytes() if len(exif) else None
        if cleaned is None or len(cleaned) <= max_size:
            return cleaned
    except Exception:  # vendor oddities Pillow cannot re-serialise
        log.info("EXIF could not be rewritten; keeping only the orientation", exc_info=True)
    try:
        original = PILImage.Exif()
        original.load(raw)
        orientation = original.get(ORIENTATION)
    except Exception:
        orientation = None
    if not isinstance(orientation, int):
        return None
    minimal = PILImage.Exif()
    minimal[ORIENTATION] = orientation
    return minimal.tobytes()


# ---------------------------------------------------------------------------- JPEG

_STANDALONE = {0x01, *range(0xD0, 0xD8)}


def _jpeg(data: bytes) -> bytes:
    if data[:2] != b"\xff\xd8":
        raise Unparseable("no JPEG start marker")
    out = [b"\xff\xd8"]
    pos, end = 2, len(data)
    while pos < end:
        if data[pos] != 0xFF:
            raise Unparseable(f"expected a marker at {pos}")
        while pos < end and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= end:
            break
        marker = data[pos]
        pos += 1
        if marker == 0xD9:  # end of image: whatever follows (MPF secondary images, trailers) is dropped
            out.append(b"\xff\xd9")
            return b"".join(out)
        if marker in _STANDALONE:
            out.append(bytes((0xFF, marker)))
            continue
        if pos + 2 > end:
            raise Unparseable("truncated segment")
        (length,) = struct.unpack(">H", data[pos : pos + 2])
        if length < 2 or pos + length > end:
            raise Unparseable("bad segment length")
        payload = data[pos + 2 : pos + length]
        segment = data[pos - 2 : pos + length]
        pos += length
        if marker == 0xDA:  # start of scan: copy the entropy-coded data up to the next real marker
            scan_end = pos
            while True:
                scan_end = data.find(b"\xff", scan_end)
                if scan_end < 0 or scan_end + 1 >= end:
                    raise Unparseable("scan without an end")
                following = data[scan_end + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
                    scan_end += 1
                    continue
                break
            out += [segment, data[pos:scan_end]]
            pos = scan_end
        elif 0xE0 <= marker <= 0xEF:
            kept = _jpeg_app_segment(marker, payload, segment)
            if kept:
                out.append(kept)
        elif marker != 0xFE:  # frame and tables: the picture itself (comments go: free text)
            out.append(segment)
    raise Unparseable("no end of image")


def _jpeg_app_segment(marker: int, payload: bytes, segment: bytes) -> bytes | None:
    """What an application segment becomes: kept (JFIF, Adobe's colour transform, the ICC profile),
    cleaned (EXIF) or dropped (None)."""
    if (marker == 0xE0 and payload[:5] in (b"JFIF\x00", b"JFXX\x00")) or (
        marker == 0xEE and payload.startswith(b"Adobe")
    ):
        return segment
    if marker == 0xE2 and payload.startswith(b"ICC_PROFILE\x00"):
        return segment
    if marker == 0xE1 and payload.startswith(EXIF_HEADER):
        cleaned = clean_exif(payload)
        if cleaned is None:
            return None
        return b"\xff\xe1" + struct.pack(">H", len(cleaned) + 2) + cleaned
    # XMP, IPTC (APP13), MPF indexes, vendor blocks (GoPro, Ricoh, FLIR ...): not needed to show it.
    return None


# ---------------------------------------------------------------------------- PNG

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Ancillary chunks that change how the picture shows (colour, transparency, animation, pixel size).
# Every other ancillary chunk goes: text (tEXt, zTXt, iTXt), tIME, and private ones (C2PA's caBX,
# editors' own) that may hold anything. Critical chunks (upper-case first letter) are the picture.
_KEPT_PNG_CHUNKS = frozenset(
    {b"tRNS", b"cHRM", b"gAMA", b"iCCP", b"sBIT", b"sRGB", b"cICP", b"mDCV", b"cLLI", b"bKGD", b"hIST"}
    | {b"pHYs", b"sPLT", b"acTL", b"fcTL", b"fdAT"}
)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png(data: bytes) -> bytes:
    if not data.startswith(PNG_SIGNATURE):
        raise Unparseable("no PNG signature")
    out = [PNG_SIGNATURE]
    pos = len(PNG_SIGNATURE)
    while pos + 12 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        chunk = data[pos : pos + 12 + length]
        if len(body) != length:
            raise Unparseable("truncated chunk")
        pos += 12 + length
        if kind == b"eXIf":
            cleaned = clean_exif(EXIF_HEADER + body)
            if cleaned is not None:
                out.append(_png_chunk(kind, cleaned[len(EXIF_HEADER) :]))
        elif kind[:1].isupper() or kind in _KEPT_PNG_CHUNKS:
            out.append(chunk)
        if kind == b"IEND":
            return b"".join(out)
    raise Unparseable("no IEND chunk")


# ---------------------------------------------------------------------------- WebP

_VP8X_EXIF, _VP8X_XMP = 0x08, 0x04


def _webp(data: bytes) -> bytes:
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise Unparseable("not a RIFF WebP")
    chunks: list[list] = []
    pos = 12
    while pos + 8 <= len(data):
        kind = data[pos : pos + 4]
        (length,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if len(body) != length:
            raise Unparseable("truncated chunk")
        pos += 8 + length + (length & 1)
        if kind == b"EXIF":
            raw = body if body.startswith(EXIF_HEADER) else EXIF_HEADER + body
            cleaned = clean_exif(raw)
            if cleaned is not None:
                chunks.append([kind, cleaned[len(EXIF_HEADER) :]])
        elif kind != b"XMP ":
            chunks.append([kind, body])
    has_exif = any(kind == b"EXIF" for kind, _ in chunks)
    for chunk in chunks:
        if chunk[0] == b"VP8X" and chunk[1]:
            flags = chunk[1][0] & ~_VP8X_XMP & ~(0 if has_exif else _VP8X_EXIF)
            chunk[1] = bytes((flags,)) + chunk[1][1:]
    body = b"WEBP" + b"".join(
        kind + struct.pack("<I", len(payload)) + payload + (b"\x00" if len(payload) & 1 else b"")
        for kind, payload in chunks
    )
    return b"RIFF" + struct.pack("<I", len(body)) + body


# ---------------------------------------------------------------------------- GIF


def _gif_sub_blocks_end(data: bytes, pos: int) -> int:
    while True:
        if pos >= len(data):
            raise Unparseable("truncated sub-blocks")
        size = data[pos]
        pos += 1 + size
        if size == 0:
            return pos


_KEPT_GIF_APPLICATIONS = (b"NETSCAPE2.0", b"ANIMEXTS1.0", b"ICCRGBG1012")


def _gif(data: bytes) -> bytes:
    if data[:6] not in (b"GIF87a", b"GIF89a") or len(data) < 13:
        raise Unparseable("not a GIF")
    flags = data[10]
    pos = 13 + (3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0)
    out = [data[:pos]]
    while pos < len(data):
        introducer = data[pos]
        if introducer == 0x3B:  # trailer
            out.append(b"\x3b")
            return b"".join(out)
        if introducer == 0x21:
            label = data[pos + 1]
            after = _gif_sub_blocks_end(data, pos + 2)
            # Graphic control (timing, transparency) stays; comments and plain text (which no browser
            # draws) go; an application extension's first sub-block names it: looping and the ICC
            # profile stay, XMP, ImageMagick's IPTC/8BIM and anything else go.
            if label == 0xF9 or (label == 0xFF and data[pos + 3 : pos + 14] in _KEPT_GIF_APPLICATIONS):
                out.append(data[pos:after])
            pos = after
        elif introducer == 0x2C:
            local = data[pos + 9]
            start = pos
            pos += 10 + (3 * 2 ** ((local & 7) + 1) if local & 0x80 else 0) + 1  # + LZW minimum code size
            pos = _gif_sub_blocks_end(data, pos)
            out.append(data[start:pos])
        else:
            raise Unparseable(f"unknown GIF block {introducer:#x}")
    raise Unparseable("no GIF trailer")


# ---------------------------------------------------------------------------- re-encoding


def _reencode(data: bytes) -> bytes:
    """Decode and write the frames again, turned upright, with only the harmless IFD0 tags and the
    colour profile."""
    with PILImage.open(io.BytesIO(data)) as img:
        fmt = img.format or "PNG"
        source = img.getexif()
        kept = PILImage.Exif()
        for tag in KEPT_ON_REENCODE:
            if tag in source:
                kept[tag] = source[tag]
        icc = img.info.get("icc_profile")
        # exif_transpose: the pixels are turned instead of keeping the tag (Pillow already turns TIFF
        # frames on load). copy(): a plain image, so the TIFF writer copies none of the source's tags.
        frames = [ImageOps.exif_transpose(frame.copy()) for frame in ImageSequence.Iterator(img)]
    for frame in frames:
        for key in ("xmp", "exif", "comment"):  # Pillow writes a comment it read back out (JPEG, GIF)
            frame.info.pop(key, None)
    args: dict = {"exif": kept}
    if icc:
        args["icc_profile"] = icc
    if fmt == "TIFF":
        args["compression"] = "tiff_adobe_deflate"
    elif fmt == "JPEG":
        args["quality"] = 95
    elif fmt == "WEBP":
        args["lossless"] = True
    if len(frames) > 1:
        args |= {"save_all": True, "append_images": frames[1:]}
    out = io.BytesIO()
    frames[0].save(out, format=fmt, **args)
    return out.getvalue()


_REWRITERS = {"JPEG": _jpeg, "PNG": _png, "WEBP": _webp, "GIF": _gif}


def sanitise(data: bytes, fmt: str) -> bytes:
    """The file without location, device serials, owner name and XMP/IPTC blocks; pixels,
    orientation and colour profile kept. `fmt` is Pillow's format name (as stored on the image)."""
    rewriter = _REWRITERS.get(fmt.upper())
    if rewriter is None:
        return data if fmt.upper() == "BMP" else _reencode(data)  # BMP carries no metadata
    try:
        return rewriter(data)
    except (Unparseable, IndexError, struct.error) as exc:
        log.warning("Re-encoding a %s file whose container could not be rewritten: %s", fmt, exc)
        return _reencode(data)


# ---------------------------------------------------------------------------- the stored copy


def public_copy_name(original_name: str, version: int = SANITISER_VERSION) -> str:
    """originals/ab/cd/<sha256>.jpg -> public/v2/ab/cd/<sha256>.jpg: one copy per stored original
    (version 1 had no version folder)."""
    _, _, rest = original_name.partition("/")
    folder = PUBLIC_PREFIX if version == 1 else f"{PUBLIC_PREFIX}/v{version}"
    return f"{folder}/{rest or original_name}"


def public_copy(original_name: str, fmt: str) -> str:
    """The storage name to serve to anyone but the owner: the sanitised copy, made on first use, or
    the original itself when it carries nothing private (remembered by an empty marker file)."""
    name = public_copy_name(original_name)
    if default_storage.exists(name):
        return name
    if default_storage.exists(name + UNCHANGED_SUFFIX):
        return original_name
    with default_storage.open(original_name, "rb") as fh:
        data = fh.read()
    cleaned = sanitise(data, fmt)
    if cleaned == data:
        _save_once(name + UNCHANGED_SUFFIX, b"")
        return original_name
    _save_once(name, cleaned)
    return name


def _save_once(name: str, content: bytes) -> None:
    # Two first requests at once both write; storage never overwrites, so the loser's copy gets
    # another name and is removed again.
    saved = default_storage.save(name, ContentFile(content))
    if saved != name:
        default_storage.delete(saved)


def delete_public_copy(original_name: str) -> None:
    """Drop the copy of an original no image refers to any more. It is only a cache: should a new
    upload of the same bytes race with this, its first request simply makes the copy again."""
    if not original_name or Image.objects.filter(original=original_name).exists():
        return
    for version in range(1, SANITISER_VERSION + 1):  # older versions' copies too
        name = public_copy_name(original_name, version)
        for stored in (name, name + UNCHANGED_SUFFIX):
            with contextlib.suppress(FileNotFoundError):
                default_storage.delete(stored)
