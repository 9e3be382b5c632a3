"""One upload as every door hands it over (`POST /api/images/`, the upload page's plain form,
`manage.py import_images`, tests and benchmarks): an `Intake`, and the checks it meets before it
is stored. `services.create_image` runs `preflight` for every source, as paperless-ngx's consumer
runs its preflight plugin for the consume folder, the API and mail alike, so no door can forget
a refusal (the upload page once stored every duplicate because the check lived in the API view).
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import IO, Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.urls import reverse

from core.errors import Conflict

from .models import Image
from .validation import read_limited


class Source(enum.StrEnum):
    """Which door an upload came through (logged; the checks are the same for all)."""

    API = "api"
    PAGE = "page"
    IMPORT = "import"
    SCRIPT = "script"  # tests, benchmarks and shell sessions


@dataclass(frozen=True, kw_only=True)
class Intake:
    """An upload, read but not yet decoded. `allow_duplicate` False (the default) refuses the
    bytes when the owner already has them, in the library or in the trash."""

    owner: AbstractBaseUser
    data: bytes = field(repr=False)
    source: Source
    filename: str = ""
    title: str = ""
    tags: tuple[str, ...] = ()
    visibility: str = Image.Visibility.PUBLIC
    allow_duplicate: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "tags", tuple(self.tags))  # a list from a form, kept immutable

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @classmethod
    def from_form(
        cls,
        owner: AbstractBaseUser,
        upload: IO[bytes],
        filename: str,
        fields: Mapping[str, Any],
        source: Source,
    ) -> Intake:
        """An uploaded file and the parsed fields of `forms.ImageUploadForm` (or a subclass)."""
        return cls(
            owner=owner,
            data=read_upload(upload),
            source=source,
            filename=filename,
            title=fields.get("title", ""),
            tags=tuple(fields.get("tags") or ()),
            visibility=fields.get("visibility") or Image.Visibility.PUBLIC,
            allow_duplicate=bool(fields.get("allow_duplicate", False)),
        )


def read_upload(fileobj: IO[bytes]) -> bytes:
    """The file's bytes, at most MAX_UPLOAD_BYTES (a larger one is a 400 without reading it all)."""
    fileobj.seek(0)
    return read_limited(fileobj, settings.MAX_UPLOAD_BYTES)


class DuplicateUpload(Conflict):
    """The owner already has these exact bytes: a 409 on the API, a message on the page, a
    skipped file in an import. `existing_id` names the image; `in_trash` says where it is."""

    def __init__(self, message: str, *, existing_id: int, in_trash: bool, extra: dict) -> None:
        super().__init__(message, extra=extra)
        self.existing_id = existing_id
        self.in_trash = in_trash


def _named(intake: Intake) -> str:
    return f"{intake.filename} is" if intake.filename else "This file is"


def refuse_library_copy(intake: Intake) -> None:
    """Refuse bytes the owner already has. Only the uploader's own images are consulted, so the
    answer reveals nothing about other people's libraries."""
    if intake.allow_duplicate:
        return
    existing = Image.objects.filter(owner=intake.owner, sha256=intake.sha256)
    existing = existing.order_by("pk").only("pk").first()
    if existing is None:
        return
    raise DuplicateUpload(
        f"{_named(intake)} already in your library as #{existing.pk}.",
        existing_id=existing.pk,
        in_trash=False,
        extra={"duplicate_of": existing.pk, "duplicate_url": existing.get_absolute_url()},
    )


def refuse_trash_copy(intake: Intake) -> None:
    """Refuse bytes waiting in the owner's trash: restoring gets back the title and tags too."""
    if intake.allow_duplicate:
        return
    trashed = Image.all_objects.trashed().filter(owner=intake.owner, sha256=intake.sha256)
    trashed = trashed.order_by("pk").only("pk").first()
    if trashed is None:
        return
    raise DuplicateUpload(
        f"{_named(intake)} in your trash as #{trashed.pk}: restore it, or upload it again as a new image.",
        existing_id=trashed.pk,
        in_trash=True,
        extra={
            "duplicate_of": trashed.pk,
            "in_trash": True,
            "duplicate_url": reverse("trash"),
            "restore_url": reverse("api-image-restore", args=[trashed.pk]),
        },
    )


# In order: a copy in the library is named before one in the trash. A new check is one more entry.
PREFLIGHT: tuple[Callable[[Intake], None], ...] = (refuse_library_copy, refuse_trash_copy)


def preflight(intake: Intake) -> None:
    """Every check an upload meets before it is decoded and stored (each raises its refusal)."""
    for check in PREFLIGHT:
        check(intake)
