"""The indexing pipeline: stored original -> thumbnail, PDQ, CLIP embedding -> Milvus -> indexed."""

from __future__ import annotations

import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.conf import settings
from django.utils import timezone

from .models import Image
from .processing import Prepared, prepare
from .storage import delete_if_unreferenced, read_file, store_thumbnail

log = logging.getLogger(__name__)


@dataclass
class IndexReport:
    indexed: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    skipped: list[int] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"indexed": self.indexed, "failed": self.failed, "skipped": self.skipped}


def _mark_failed(image: Image, reason: str) -> None:
    Image.objects.filter(pk=image.pk).update(
        status=Image.Status.FAILED, failure_reason=reason[:1000], updated_at=timezone.now()
    )


def _prepare_one(image: Image, encoder) -> Prepared | str:
    """The prepared image, or the reason it cannot be indexed."""
    try:
        return prepare(read_file(image.original.name), encoder.image_inputs)
    except FileNotFoundError:
        return "The stored original is missing."
    except Exception as exc:  # any decode problem fails this image, not the batch
        log.warning("Image %s could not be prepared", image.pk, exc_info=True)
        return f"Could not decode the image: {exc}"


def _prepare_all(images: list[Image], encoder) -> list[Prepared | str]:
    threads = min(settings.PREPARE_THREADS, len(images))
    if threads <= 1:
        return [_prepare_one(image, encoder) for image in images]
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="prepare") as pool:
        return list(pool.map(lambda image: _prepare_one(image, encoder), images))


def index_images(ids: list[int], *, force: bool = False, encoder=None) -> IndexReport:
    """Index a batch. Raises ModelUnavailable / VectorStoreError with rows left pending."""
    from search.encoder import get_encoder
    from search.index import pdq_store, pdq_vector, store_for, vector_row

    encoder = encoder or get_encoder()
    report = IndexReport()
    images = list(Image.objects.filter(pk__in=ids).order_by("pk"))
    report.skipped = sorted(set(ids) - {i.pk for i in images})
    wanted = [
        image
        for image in images
        if force or image.status != Image.Status.INDEXED or image.embedding_model != encoder.model_id
    ]
    report.skipped += [image.pk for image in images if image not in wanted]
    todo = []
    # Decoding, thumbnails and hashing release the GIL for most of their time: overlap them.
    for image, outcome in zip(wanted, _prepare_all(wanted, encoder), strict=True):
        if isinstance(outcome, Prepared):
            todo.append((image, outcome))
            continue
        report.failed[image.pk] = outcome
        _mark_failed(image, outcome)
    if not todo:
        return report

    vectors = encoder.encode_image_inputs([p.model_inputs for _, p in todo])
    for (image, prepared), vector in zip(todo, vectors, strict=False):
        thumb = store_thumbnail(prepared.thumbnail, image.sha256)
        image.set_embedding(vector, encoder.model_id)
        Image.objects.filter(pk=image.pk).update(
            thumbnail=thumb,
            pdq_hash=prepared.pdq_hash,
            pdq_quality=prepared.pdq_quality,
            taken_at=prepared.taken_at,
            embedding=image.embedding,
            embedding_model=image.embedding_model,
            attempts=image.attempts + 1,
        )
        image.thumbnail = thumb
        # Deleted while we encoded: its vector and thumbnail are removed below.
        with contextlib.suppress(Image.DoesNotExist):
            image.refresh_from_db(fields=["visibility", "owner"])

    store = store_for(encoder.model_id, encoder.dim)
    store.upsert([vector_row(image, vector) for (image, _), vector in zip(todo, vectors, strict=False)])
    store.flush()
    hashes = pdq_store()
    hashes.upsert([vector_row(image, pdq_vector(prepared.pdq_hash)) for image, prepared in todo])
    hashes.flush()

    done = [image.pk for image, _ in todo]
    Image.objects.filter(pk__in=done).update(
        status=Image.Status.INDEXED,
        failure_reason="",
        indexed_at=timezone.now(),
        updated_at=timezone.now(),
    )
    # An image deleted while we worked must not leave its vector behind.
    gone = set(done) - set(Image.objects.filter(pk__in=done).values_list("pk", flat=True))
    if gone:
        for vectors_of in (store, hashes):
            vectors_of.delete(sorted(gone))
            vectors_of.flush()
        for image, _ in todo:
            if image.pk in gone:
                delete_if_unreferenced(image.thumbnail.name)
    report.indexed = sorted(set(done) - gone)
    return report


def note_pending(ids: list[int], reason: str) -> None:
    """Say why images are still pending (shown in the UI and API) without failing them."""
    Image.objects.filter(pk__in=ids, status=Image.Status.PENDING).update(
        failure_reason=reason[:1000], updated_at=timezone.now()
    )
