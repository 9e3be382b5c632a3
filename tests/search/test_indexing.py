"""The indexing pipeline in this process: demo encoder, the session's Milvus Lite server."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from ingestion.models import Image
from ingestion.processing import decode
from ingestion.storage import read_file
from search.engines.encoder import get_encoder
from search.index import embedding_store
from search.pipeline.indexing import index_images
from tests.factories import (
    index,
    make_image,
    make_user,
    model_of,
    noise_png,
    plain_hash,
    stored_vectors,
    vector_of,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_index")]


def test_indexing_fills_the_row_and_milvus() -> None:
    owner = make_user()
    image = make_image(owner, "circle", visibility="private")
    assert image.status == Image.Status.PENDING and not image.thumbnail

    report = index(image)

    assert report.indexed == [image.pk] and not report.failed
    assert image.status == Image.Status.INDEXED
    assert image.indexed_at is not None and image.failure_reason == ""
    assert image.attempts == 1
    assert len(plain_hash(image).pdq_hash) == 64 and plain_hash(image).quality is not None
    assert image.thumbnail.name.startswith("thumbnails/") and default_storage.exists(image.thumbnail.name)

    encoder = get_encoder()
    vector = vector_of(image)
    assert model_of(image) == encoder.model_id
    assert vector.dtype == np.float32 and vector.shape == (encoder.dim,)
    assert float(np.linalg.norm(vector)) == pytest.approx(1.0, abs=1e-4)
    expected = encoder.encode_images([decode(read_file(image.original.name))])[0]
    np.testing.assert_allclose(vector, expected, atol=1e-5)

    store = embedding_store(encoder.model_id, encoder.dim)
    hits = store.search(vector, limit=3)
    assert hits[0].id == image.pk
    assert hits[0].score == pytest.approx(1.0, abs=1e-3)
    np.testing.assert_allclose(stored_vectors(store, [image.pk])[image.pk], vector, atol=1e-6)


def test_a_batch_indexes_every_image() -> None:
    owner = make_user()
    images = [make_image(owner, kind) for kind in ("circle", "square", "stripes")]
    report = index(*images)
    assert report.indexed == sorted(i.pk for i in images)
    encoder = get_encoder()
    store = embedding_store(encoder.model_id, encoder.dim)
    assert store.ids() == {i.pk for i in images}
    for image in images:
        assert store.search(vector_of(image), limit=1)[0].id == image.pk


def test_missing_original_fails_with_a_reason() -> None:
    image = make_image(make_user(), "square", data=noise_png())
    default_storage.delete(image.original.name)

    report = index(image)

    assert report.failed == {image.pk: "The stored original is missing."}
    assert image.status == Image.Status.FAILED
    assert image.failure_reason == "The stored original is missing."
    assert vector_of(image) is None


def test_corrupt_stored_file_fails_without_stopping_the_batch() -> None:
    owner = make_user()
    broken = make_image(owner, "square", data=noise_png())
    good = make_image(owner, "circle")
    default_storage.delete(broken.original.name)
    default_storage.save(broken.original.name, ContentFile(b"\x89PNG\r\n\x1a\n garbage"))

    report = index(broken, good)

    assert report.indexed == [good.pk]
    assert broken.status == Image.Status.FAILED
    assert broken.failure_reason.startswith("Could not decode the image:")
    assert good.status == Image.Status.INDEXED
    default_storage.delete(broken.original.name)


def test_unknown_ids_are_skipped() -> None:
    image = make_image(make_user())
    report = index_images([image.pk, 987654])
    assert report.indexed == [image.pk]
    assert report.skipped == [987654]


def thumbnail_name(image: Image) -> str:
    sha = image.sha256
    return f"thumbnails/{sha[:2]}/{sha[2:4]}/{sha}.webp"


class DeletingEncoder:
    """The real encoder; while it works, another request deletes one of the images."""

    def __init__(self, victim: Image) -> None:
        self.inner = get_encoder()
        self.model_id, self.dim = self.inner.model_id, self.inner.dim
        self.victim = victim

    def image_inputs(self, image):
        return self.inner.image_inputs(image)

    def encode_image_inputs(self, inputs):
        Image.objects.filter(pk=self.victim.pk).delete()
        return self.inner.encode_image_inputs(inputs)


def test_an_image_deleted_while_indexing_leaves_no_vector() -> None:
    owner = make_user()
    kept = make_image(owner, "circle")
    deleted = make_image(owner, "triangle")

    report = index_images([kept.pk, deleted.pk], encoder=DeletingEncoder(deleted))

    assert report.indexed == [kept.pk]
    encoder = get_encoder()
    assert embedding_store(encoder.model_id, encoder.dim).ids() == {kept.pk}
    assert Image.objects.get(pk=kept.pk).status == Image.Status.INDEXED
    assert default_storage.exists(thumbnail_name(kept))
    assert not default_storage.exists(thumbnail_name(deleted))


def test_reindexing_is_skipped_unless_forced() -> None:
    image = make_image(make_user(), "stripes")
    index(image)
    first_indexed_at = image.indexed_at

    again = index(image)
    assert again.skipped == [image.pk] and again.indexed == []
    assert image.attempts == 1 and image.indexed_at == first_indexed_at

    forced = index(image, force=True)
    assert forced.indexed == [image.pk]
    assert image.attempts == 2 and image.indexed_at > first_indexed_at
    encoder = get_encoder()
    assert embedding_store(encoder.model_id, encoder.dim).ids() == {image.pk}
