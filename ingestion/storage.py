"""Where originals and thumbnails live: content-addressed names in Django's default storage."""

from __future__ import annotations

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from .models import Image


def _sharded(prefix: str, sha256: str, extension: str) -> str:
    return f"{prefix}/{sha256[:2]}/{sha256[2:4]}/{sha256}.{extension}"


def store_original(data: bytes, sha256: str, extension: str) -> str:
    name = _sharded("originals", sha256, extension)
    if not default_storage.exists(name):
        name = default_storage.save(name, ContentFile(data))
    return name


def store_thumbnail(data: bytes, sha256: str) -> str:
    name = _sharded("thumbnails", sha256, "webp")
    if not default_storage.exists(name):
        name = default_storage.save(name, ContentFile(data))
    return name


def read_file(name: str) -> bytes:
    with default_storage.open(name, "rb") as fh:
        return fh.read()


def delete_if_unreferenced(name: str) -> None:
    """Delete a stored file unless another image still points at it (shared by identical uploads)."""
    if not name:
        return
    if Image.objects.filter(original=name).exists() or Image.objects.filter(thumbnail=name).exists():
        return
    if default_storage.exists(name):
        default_storage.delete(name)
