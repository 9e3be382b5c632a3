"""Huge images built without holding their pixels: what the abuse benchmark throws at a running
stack (`manage.py bench_abuse`) and what the tests use to prove decoding stays bounded."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image as PILImage


def huge_png(width: int, height: int) -> bytes:
    """A flat grey PNG of any size, its rows compressed as a stream: under 1 MB for 10000x10000."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    packer = zlib.compressobj(9)
    row = b"\x00" + b"\x80" * (width * 3)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def huge_jpeg(width: int, height: int) -> bytes:
    """A grey JPEG of any size (grey: a third of the memory while it is built)."""
    out = io.BytesIO()
    PILImage.new("L", (width, height), 128).save(out, format="JPEG", quality=50)
    return out.getvalue()
