"""Creating, updating and deleting images: the life cycle the pages, API and commands share."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable
from typing import IO

from django.db import transaction

from .models import Image, Tag
from .storage import delete_if_unreferenced, store_original
from .validation import InvalidImage, ValidatedImage, validate_upload

log = logging.getLogger(__name__)

MAX_TAGS = 50
TAG_RE = re.compile(r"^[\w][\w .:+#&'-]{0,63}$")


def parse_tags(value: str | Iterable[str] | None) -> list[str]:
    """Accept "a, b" or ["a", "b"]; normalise to lower-case, unique, in order."""
    if value is None:
        return []
    if not isinstance(value, str | list | tuple):
        raise InvalidImage("tags must be a list of tags or a comma-separated string.")
    parts = value.split(",") if isinstance(value, str) else [p for v in value for p in str(v).split(",")]
    tags: list[str] = []
    for raw in parts:
        tag = " ".join(raw.split()).lower()
        if not tag:
            continue
        if not TAG_RE.match(tag):
            raise InvalidImage(f"Tag '{tag[:70]}' is not allowed: use letters, digits and spaces.")
        if tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise InvalidImage(f"Too many tags ({len(tags)}); the limit is {MAX_TAGS}.")
    return tags


def parse_visibility(value: str | None) -> str:
    if value in (None, ""):
        return Image.Visibility.PUBLIC
    if value not in Image.Visibility.values:
        raise InvalidImage("visibility must be 'public' or 'private'.")
    return value


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
    enqueue: bool = True,
) -> Image:
    """Store the original and the pending row; indexing is queued once the row is committed."""
    name = store_original(validated.data, validated.sha256, validated.extension)
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
        if enqueue:
            transaction.on_commit(lambda: enqueue_indexing([image.pk]))
    return image


def create_from_upload(owner, fileobj: IO[bytes], filename: str = "", **fields) -> Image:
    validated = validate_upload(fileobj, filename)
    return create_image(owner, validated, filename=filename, **fields)


BROKER_BACKOFF_SECONDS = 30
_broker_down_since: float | None = None


def enqueue_indexing(ids: list[int], force: bool = False) -> bool:
    """Queue indexing; if the broker is down the rows stay pending and are re-queued later
    (by `reconcile` and by every worker start). After a failure we stop trying for a while,
    so a batch upload during an outage does not wait on each file."""
    global _broker_down_since
    from .tasks import index_images

    if _broker_down_since and time.monotonic() - _broker_down_since < BROKER_BACKOFF_SECONDS:
        return False
    try:
        index_images.apply_async(args=[list(ids)], kwargs={"force": force}, retry=False)
        _broker_down_since = None
        return True
    except Exception as exc:  # any broker failure must not lose or fail the upload
        _broker_down_since = time.monotonic()
        log.warning("Could not queue indexing of %d image(s), they stay pending: %s", len(ids), exc)
        return False


def update_image(image: Image, *, title=None, tags=None, visibility=None) -> Image:
    changed_visibility = visibility is not None and visibility != image.visibility
    with transaction.atomic():
        if title is not None:
            image.title = str(title).strip()[:200]
        if visibility is not None:
            image.visibility = parse_visibility(visibility)
        # Only what we change: the row may have been indexed since it was loaded.
        image.save(update_fields=["title", "visibility", "updated_at"])
        if tags is not None:
            set_tags(image, parse_tags(tags))
    if changed_visibility and image.status == Image.Status.INDEXED:
        # Milvus filters on visibility, so its copy must follow.
        transaction.on_commit(lambda: sync_vector_metadata(image.pk))
    return image


def sync_vector_metadata(image_id: int) -> None:
    from search.index import pdq_row, pdq_store, store_for, vector_row
    from search.vector_store import VectorStoreError

    image = Image.objects.filter(pk=image_id).first()
    vector = image.embedding_vector() if image else None
    if vector is None:
        return
    try:
        store = store_for(image.embedding_model, len(vector))
        store.upsert([vector_row(image, vector)])
        store.flush()
        if image.pdq_hash:
            pdq_store().upsert([pdq_row(image)])
            pdq_store().flush()
    except VectorStoreError as exc:
        log.warning("Milvus metadata for image %s not updated (reconcile will): %s", image_id, exc)


def remove_image_artifacts(image: Image) -> None:
    """Delete the image's vector and files; called after its row is gone."""
    from search.index import pdq_store, store_for
    from search.vector_store import VectorStoreError

    vector = image.embedding_vector()
    if vector is not None and image.embedding_model:
        try:
            for store in (store_for(image.embedding_model, len(vector)), pdq_store()):
                store.delete([image.pk])
                store.flush()
        except VectorStoreError as exc:
            # Search never shows rows that are gone, and reconcile deletes orphan vectors.
            log.warning("Vector of deleted image %s left in Milvus: %s", image.pk, exc)
    delete_if_unreferenced(image.original.name)
    delete_if_unreferenced(image.thumbnail.name)
