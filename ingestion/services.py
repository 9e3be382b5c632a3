"""Creating and updating images: the life cycle the pages, API and commands share. Input arrives
already parsed by `ingestion.forms`; what happens next (indexing, index updates) is announced with
the signals in `ingestion.signals`."""

from __future__ import annotations

from typing import IO

from django.core.files.storage import default_storage
from django.db import transaction

from .models import Image, Tag
from .signals import announce_created
from .storage import content_lock, store_original
from .validation import ValidatedImage, validate_upload


def set_tags(image: Image, names: list[str]) -> None:
    tags = [Tag.objects.get_or_create(name=name)[0] for name in names]
    image.tags.set(tags)


def create_image(
    owner,
    validated: ValidatedImage,
    *,
    filename: str = "",
    title: str = "",
    tags: list[str] | None = None,
    visibility: str = Image.Visibility.PUBLIC,
    announce: bool = True,
) -> Image:
    """Store the original and the pending row. With `announce` the new image is announced once
    the row is committed; bulk imports announce their batches themselves."""
    # Under the content's lock until the row commits: a concurrent delete of the last other image
    # with these bytes either runs before (the file is stored again) or sees this row.
    with content_lock(validated.sha256):
        name, written = store_original(validated.data, validated.sha256, validated.extension)
        try:
            with transaction.atomic():
                image = Image.objects.create(
                    owner=owner,
                    title=title.strip()[:200],
                    visibility=visibility,
                    original=name,
                    original_filename=(filename or "")[:255],
                    format=validated.format,
                    size_bytes=validated.size_bytes,
                    width=validated.width,
                    height=validated.height,
                    sha256=validated.sha256,
                )
                if tags:
                    set_tags(image, tags)
                if announce:
                    announce_created([image.pk])
        except BaseException:
            if written:  # no other row can reference it yet: the lock is ours
                default_storage.delete(name)
            raise
    return image


def create_from_upload(owner, fileobj: IO[bytes], filename: str = "", **fields) -> Image:
    validated = validate_upload(fileobj, filename)
    return create_image(owner, validated, filename=filename, **fields)


def update_image(
    image: Image, *, title: str | None = None, tags: list[str] | None = None, visibility: str | None = None
) -> Image:
    """Apply the fields given (None: unchanged). A visibility change is announced on save."""
    with transaction.atomic():
        if title is not None:
            image.title = title
        if visibility is not None:
            image.visibility = visibility
        # Only what we change: the row may have been indexed since it was loaded.
        image.save(update_fields=["title", "visibility", "updated_at"])
        if tags is not None:
            set_tags(image, tags)
    return image
