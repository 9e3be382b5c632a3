"""Checks an upload gets before it is stored: an exact copy the uploader already has."""

from __future__ import annotations

import hashlib
from typing import IO

from django.urls import reverse

from core.errors import Conflict

from .models import Image


def sha256_of(fileobj: IO[bytes]) -> str:
    digest = hashlib.sha256()
    fileobj.seek(0)
    for chunk in iter(lambda: fileobj.read(1 << 20), b""):
        digest.update(chunk)
    fileobj.seek(0)
    return digest.hexdigest()


def refuse_exact_copy(owner, fileobj: IO[bytes], filename: str = "") -> None:
    """409 when `owner` already has these exact bytes. Only the uploader's own images are
    consulted, so the answer reveals nothing about other people's libraries."""
    sha256 = sha256_of(fileobj)
    existing = Image.objects.filter(owner=owner, sha256=sha256).order_by("pk").only("pk").first()
    if existing is None:
        _refuse_copy_in_trash(owner, sha256, filename)
    if existing is not None:
        name = f"{filename} is" if filename else "This file is"
        raise Conflict(
            f"{name} already in your library as #{existing.pk}.",
            extra={"duplicate_of": existing.pk, "duplicate_url": existing.get_absolute_url()},
        )


def _refuse_copy_in_trash(owner, sha256: str, filename: str) -> None:
    """409 when the bytes wait in the uploader's trash: restoring gets back its title and tags too
    (`allow_duplicate` uploads a new image anyway)."""
    trashed = Image.all_objects.trashed().filter(owner=owner, sha256=sha256).order_by("pk").only("pk").first()
    if trashed is None:
        return
    name = f"{filename} is" if filename else "This file is"
    raise Conflict(
        f"{name} in your trash as #{trashed.pk}: restore it, or upload it again as a new image.",
        extra={
            "duplicate_of": trashed.pk,
            "in_trash": True,
            "duplicate_url": reverse("trash"),
            "restore_url": reverse("api-image-restore", args=[trashed.pk]),
        },
    )
