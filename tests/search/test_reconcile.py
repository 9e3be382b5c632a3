"""Reconcile: Milvus is brought back in line with the database, without re-encoding."""

from __future__ import annotations

from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command
from django.db import connection

from ingestion.models import Image
from search.engines.vector_store import SearchFilter, VectorRow, VectorStore, get_client
from search.index import embedding_store
from search.pipeline.reconcile import reconcile
from tests.factories import (
    give_vector,
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


def store_of(image: Image) -> VectorStore:
    return embedding_store(model_of(image), len(vector_of(image)))


def random_unit(dim: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=dim).astype(np.float32)
    return v / np.linalg.norm(v)


def test_restores_missing_vectors_from_the_database() -> None:
    owner = make_user()
    kept, lost = make_image(owner, "circle"), make_image(owner, "square", visibility="private")
    index(kept, lost)
    store = store_of(kept)
    # The database is the source of truth: a stored embedding the encoder would never produce
    # shows that reconcile copies it instead of encoding the image again.
    stored = random_unit(store.dim, seed=7)
    give_vector(lost, stored)
    store.delete([lost.pk])
    store.flush()
    assert store.ids() == {kept.pk}

    report = reconcile()

    assert (report.collections, report.restored, report.orphans_deleted, report.requeued) == (1, 1, 0, 0)
    assert store.ids() == {kept.pk, lost.pk}
    np.testing.assert_allclose(stored_vectors(store, [lost.pk])[lost.pk], stored, atol=1e-6)
    # Restored with its metadata: a private vector is found by its owner only.
    assert store.search(stored, limit=1, filter=SearchFilter(viewer_id=owner.pk))[0].id == lost.pk
    assert lost.pk not in {h.id for h in store.search(stored, limit=5, filter=SearchFilter())}


def test_deletes_orphans_and_vectors_of_failed_images() -> None:
    owner = make_user()
    good, failed = make_image(owner, "circle"), make_image(owner, "stripes")
    index(good, failed)
    Image.objects.filter(pk=failed.pk).update(status=Image.Status.FAILED)
    store = store_of(good)
    orphan = VectorRow(
        id=987654, vector=random_unit(store.dim, 1), owner_id=owner.pk, is_public=True, created_at=0
    )
    store.upsert([orphan])
    store.flush()
    assert store.ids() == {good.pk, failed.pk, 987654}

    report = reconcile()

    assert report.orphans_deleted == 2 and report.restored == 0
    assert store.ids() == {good.pk}


def test_a_pending_image_with_an_embedding_gets_indexed() -> None:
    owner = make_user()
    done = make_image(owner, "circle")
    index(done)
    # A worker stored the embedding, then lost Milvus before the write.
    waiting = make_image(owner, "triangle")
    give_vector(waiting, random_unit(store_of(done).dim, 3))
    plain_pending = make_image(owner, "square")

    out = StringIO()
    call_command("reconcile", stdout=out)

    assert out.getvalue().strip() == (
        "Checked 1 collection(s): restored 1 vector(s), deleted 0 orphan(s), re-queued 0 pending image(s); "
        "PDQ hashes: restored 0, deleted 0 orphan(s); PDQ variants: restored 0, deleted 0 orphan(s); "
        "OCR queued for 2 image(s)."  # indexed in this process, so their words were never read
    )
    waiting.refresh_from_db()
    assert waiting.status == Image.Status.INDEXED and waiting.indexed_at is not None
    assert store_of(done).ids() == {done.pk, waiting.pk}
    plain_pending.refresh_from_db()
    assert plain_pending.status == Image.Status.PENDING


def test_rebuilds_a_wiped_collection() -> None:
    owner = make_user()
    images = [make_image(owner, kind) for kind in ("circle", "square", "stripes")]
    index(*images)
    store = store_of(images[0])
    get_client().drop_collection(store.name)

    report = reconcile()

    assert report.restored == 3
    assert store.ids() == {i.pk for i in images}
    for image in images:
        assert store.search(vector_of(image), limit=1)[0].id == image.pk


def test_restores_pdq_hashes_and_drops_orphan_hashes() -> None:
    from search.index import hash_store
    from search.variants import pdq_vector

    owner = make_user()
    image = make_image(owner, "circle")
    index(image)
    hashes = hash_store()
    assert hashes.ids() == {image.pk}
    hashes.delete([image.pk])
    hashes.upsert(
        [VectorRow(id=424242, vector=pdq_vector("0f" * 32), owner_id=owner.pk, is_public=True, created_at=0)]
    )
    hashes.flush()

    report = reconcile()

    assert (report.hashes_restored, report.hash_orphans_deleted) == (1, 1)
    assert hashes.ids() == {image.pk}
    stored = stored_vectors(hashes, [image.pk])[image.pk]
    np.testing.assert_array_equal(stored, pdq_vector(plain_hash(image).pdq_hash))


def test_restores_pdq_variants_and_drops_orphan_variants() -> None:
    from search.index import variant_store

    owner = make_user()
    image = make_image(owner, data=noise_png(seed=11, size=(160, 120)))  # noise: strong hashes
    index(image)
    variants = variant_store()
    stored = variants.ids()
    assert stored, "a photo-like image keeps strong variant hashes"
    lost = sorted(stored)[0]
    variants.delete([lost])
    variants.upsert(
        [
            VectorRow(
                id=999_999 * 16,
                vector=np.ones(256, dtype=np.float32),
                owner_id=owner.pk,
                is_public=True,
                created_at=0,
            )
        ]
    )
    variants.flush()

    report = reconcile()

    assert (report.variants_restored, report.variant_orphans_deleted) == (1, 1)
    assert variants.ids() == stored


def _keyword_rows() -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT title, tags FROM search_keywords")
        return list(cursor.fetchall())


def test_reconcile_keywords_repairs_a_damaged_keyword_index() -> None:
    image = make_image(make_user(), "circle", title="lighthouse", tags=["coast"])
    index(image)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM search_keywords")  # e.g. a table loaded by hand, without triggers
    call_command("reconcile", stdout=StringIO())
    assert _keyword_rows() == []  # plain reconcile leaves the keyword index alone

    out = StringIO()
    call_command("reconcile", "--keywords", stdout=out)

    assert out.getvalue().splitlines()[-1] == "Keyword index rebuilt: 1 image(s)."
    assert _keyword_rows() == [("lighthouse", "coast")]
