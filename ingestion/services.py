"""Creating and updating images: the life cycle the pages, API and commands share. Input arrives
already parsed by `ingestion.forms`, an upload as one `ingestion.intake.Intake`; what happens next
(indexing, index updates) is announced with the signals in `ingestion.signals`."""

from __future__ import annotations

import logging

from django.core.files.storage import default_storage
from django.db import transaction

from .intake import Intake, preflight
from .models import Image, Tag
from .signals import announce_created
from .storage import content_lock, store_original
from .validation import ValidatedImage, validate_image_bytes

logger = logging.getLogger(__name__)


def set_tags(image: Image, names: list[str]) -> None:
    tags = [Tag.objects.get_or_create(name=name)[0] for name in names]
    image.tags.set(tags)


def create_image(intake: Intake, *, announce: bool = True) -> Image:
    """The one way an upload becomes an image, whatever its door: the preflight checks
    (`intake.preflight`: an exact copy the owner has is refused unless allowed), validation
    (a real decode within the limits), then the stored original and the pending row. With
    `announce` the new image is announced once the row is committed; bulk imports announce their
    batches themselves."""
    preflight(intake)  # before the decode: a refused copy costs a hash and a query, no pixels
    validated = validate_image_bytes(intake.data, intake.filename)
    image = _store(intake, validated, announce)
    # %r: a file name may hold newlines, which must not forge log lines.
    logger.debug("image %s stored from %s (%r)", image.pk, intake.source, intake.filename)
    return image


def _store(intake: Intake, validated: ValidatedImage, announce: bool) -> Image:
    # Under the content's lock until the row commits: a concurrent delete of the last other image
    # with these bytes either runs before (the file is stored again) or sees this row.
    with content_lock(validated.sha256):
        # Again under the lock: the same bytes sent twice at once (a double click) were both new
        # before the decode; the second waits here for the first's commit and is refused.
        preflight(intake)
        name, written = store_original(validated.data, validated.sha256, validated.extension)
        try:
            with transaction.atomic():
                image = Image.objects.create(
                    owner=intake.owner,
                    title=intake.title.strip()[:200],
                    visibility=intake.visibility,
                    original=name,
                    original_filename=intake.filename[:255],
                    format=validated.format,
                    size_bytes=validated.size_bytes,
                    width=validated.width,
                    height=validated.height,
                    sha256=validated.sha256,
                )
                if intake.tags:
                    set_tags(image, list(intake.tags))
                if announce:
                    announce_created([image.pk])
        except BaseException:
            if written:  # no other row can reference it yet: the lock is ours
                default_storage.delete(name)
            raise
    return image


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
