"""Where originals and thumbnails live: content-addressed names in Django's default storage.
A thumbnail's other sizes (ingestion/renditions.py) sit beside it as `<sha256>_<size>.webp`; they
are written with it and deleted with it.

Identical uploads share one original (and one thumbnail), so storing a file and deleting the last
reference to it must never interleave: otherwise a delete that found no reference can remove the
file a new upload of the same bytes has just decided to reuse (a 201, then "the stored original is
missing"). Both sides therefore run under `content_lock(sha256)`, a lock the database holds until
the transaction commits, so the new row is visible to the deleter before it can look."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import PurePosixPath

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import Q

from .models import Image
from .renditions import NAMES


def _sharded(prefix: str, sha256: str, extension: str) -> str:
    return f"{prefix}/{sha256[:2]}/{sha256[2:4]}/{sha256}.{extension}"


def original_name(sha256: str, extension: str) -> str:
    return _sharded("originals", sha256, extension)


def thumbnail_name(sha256: str) -> str:
    return _sharded("thumbnails", sha256, "webp")


def rendition_name(sha256: str, size: str) -> str:
    """`size`: one of ingestion.renditions.NAMES."""
    return _sharded("thumbnails", f"{sha256}_{size}", "webp")


def _lock_key(sha256: str) -> int:
    # 60 bits of the digest: a positive bigint, collisions only make two contents share a lock.
    return int(sha256[:15], 16)


@contextlib.contextmanager
def content_lock(sha256: str) -> Iterator[None]:
    """A transaction holding the lock of one content hash across processes until it commits.

    PostgreSQL: a transaction-scoped advisory lock. SQLite: the transaction is IMMEDIATE (settings),
    so it holds the database's write lock, which serialises every writer anyway."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_lock_key(sha256)])
        yield


def _store(name: str, data: bytes) -> tuple[str, bool]:
    """Store `data` under `name` unless it is there; call under the content's lock. Returns the
    name and whether this call wrote the file."""
    if default_storage.exists(name):
        return name, False
    saved = default_storage.save(name, ContentFile(data))
    if saved != name:  # only possible if a writer bypassed the lock; never keep a second copy
        default_storage.delete(saved)
        raise RuntimeError(f"Stored file {name} appeared while it was being written")
    return name, True


def store_original(data: bytes, sha256: str, extension: str) -> tuple[str, bool]:
    """Call inside `content_lock(sha256)`; returns the name and whether it was written now."""
    return _store(original_name(sha256, extension), data)


def store_thumbnail(data: bytes, sha256: str) -> str:
    """Store the thumbnail and, when `data` carries them (ingestion.processing.Thumbnail), its
    other sizes; returns the thumbnail's name. Sizes already stored are kept as they are."""
    with content_lock(sha256):
        for size, rendition in getattr(data, "renditions", {}).items():
            _store(rendition_name(sha256, size), rendition)
        return _store(thumbnail_name(sha256), data)[0]


def store_renditions(renditions: dict[str, bytes], sha256: str) -> list[str]:
    """Store the sizes not stored yet (for images indexed before they existed); returns the names
    written. Nothing is written for content no row has any more."""
    written = []
    with content_lock(sha256):
        if not Image.all_objects.filter(sha256=sha256).exists():
            return written
        for size, data in renditions.items():
            name, new = _store(rendition_name(sha256, size), data)
            if new:
                written.append(name)
    return written


def missing_renditions(sha256: str) -> list[str]:
    return [size for size in NAMES if not default_storage.exists(rendition_name(sha256, size))]


def read_file(name: str) -> bytes:
    with default_storage.open(name, "rb") as fh:
        return fh.read()


def _content_hash(name: str) -> str:
    return PurePosixPath(name).stem.split("_")[0]


def delete_if_unreferenced(name: str) -> None:
    """Delete a stored file unless an image still points at it (shared by identical uploads).

    A file is in use while any row has its content hash, not only while a row names it: a row
    being indexed gets its thumbnail name only after the file is written."""
    if not name:
        return
    sha256 = _content_hash(name)
    with content_lock(sha256):
        # The trash counts: a trashed image may be restored.
        in_use = Image.all_objects.filter(Q(original=name) | Q(thumbnail=name) | Q(sha256=sha256)).exists()
        if in_use:
            return
        # The thumbnail's other sizes go with it (callers name only the thumbnail).
        sizes = [rendition_name(sha256, size) for size in NAMES] if name == thumbnail_name(sha256) else []
        for stored in [name, *sizes]:
            if default_storage.exists(stored):
                default_storage.delete(stored)
