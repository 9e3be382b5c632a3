"""Switching the embedding model without downtime (search.pipeline.switching), in this process, between
two demo models of different dimensions: demo (128) and demo-64."""

from __future__ import annotations

from io import StringIO

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from core.errors import BadInput
from ingestion.models import Image
from ingestion.processing import decode
from ingestion.storage import read_file
from search import index as search_index
from search import tasks
from search.engines.encoder import get_encoder, use_model
from search.engines.vector_store import collection_name, get_client
from search.models import ModelEmbedding, ModelSwitch
from search.pipeline import reconcile, switching
from search.query.queries import QueryVector
from search.query.service import SearchParams, run_search
from tests.factories import index, make_image, make_user, model_of, vector_of

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_index")]
KINDS = ("circle", "square", "stripes", "triangle")


@pytest.fixture(autouse=True)
def _process_model_back():
    yield
    use_model(None)  # what a worker's heartbeat would do; later tests expect CLIP_MODEL


def indexed_images(count: int) -> list[Image]:
    owner = make_user()
    images = [make_image(owner, kind, title=kind) for kind in KINDS[:count]]
    index(*images)
    assert all(i.status == Image.Status.INDEXED and model_of(i) == "demo" for i in images)
    return images


def collection_exists(model_id: str, dim: int) -> bool:
    return get_client().has_collection(collection_name(model_id, dim))


def finds_itself(image: Image, model_id: str) -> bool:
    """A search with `model_id`'s vector of the image's own pixels ranks it first."""
    vector = get_encoder(model_id).encode_images([decode(read_file(image.original.name))])[0]
    results = run_search(QueryVector(model_id, vector), image.owner, SearchParams(limit=3, collapse=False))
    return bool(results) and results[0].image.pk == image.pk


def test_reindex_model_inline_builds_switches_and_drops_the_old_model() -> None:
    images = indexed_images(3)
    ids = {i.pk for i in images}

    out = StringIO()
    call_command("reindex", model="demo-64", inline=True, batch_size=2, stdout=out)

    assert "Active model: demo-64" in out.getvalue()
    assert "Previous model demo kept" in out.getvalue()
    row = ModelSwitch.objects.get(pk=1)
    assert (row.active, row.target, row.previous, row.previous_dim) == ("demo-64", "", "demo", 128)
    assert switching.active_model_id() == "demo-64"
    for image in images:
        image.refresh_from_db()
        assert model_of(image) == "demo-64" and len(vector_of(image)) == 64
        assert finds_itself(image, "demo-64")
    # The old vectors are kept in the database and in their collection until dropped.
    assert set(ModelEmbedding.objects.filter(model_id="demo").values_list("image_id", flat=True)) == ids
    assert search_index.embedding_store("demo", 128).ids() == ids
    assert search_index.embedding_store("demo-64", 64).ids() == ids
    # The query worker answers with the active model from now on.
    answer = tasks.embed_texts(["a red circle"])
    assert (answer["model"], answer["dim"], len(answer["vectors"][0])) == ("demo-64", 64, 64)

    out = StringIO()
    call_command("reindex", drop_old=True, stdout=out)
    assert "Dropped demo" in out.getvalue()
    assert set(ModelEmbedding.objects.values_list("model_id", "image_id")) == {("demo-64", pk) for pk in ids}
    assert not collection_exists("demo", 128)
    assert ModelSwitch.objects.get(pk=1).previous == ""
    with pytest.raises(CommandError, match="no previous model"):
        call_command("reindex", drop_old=True, stdout=StringIO())


def test_the_build_resumes_where_it_stopped_and_uploads_meanwhile_get_both_models() -> None:
    first = indexed_images(4)
    switching.start("demo-64")

    report = switching.build("demo-64", max_batches=1, batch_size=2, lock=False)
    assert (report.encoded, report.remaining, report.switched) == (2, 2, False)
    progress = switching.progress()
    assert (progress.active, progress.target, progress.done, progress.total) == ("demo", "demo-64", 2, 4)
    assert progress.percent == 50.0
    # Searches still use the active model, which still covers everything.
    assert switching.active_model_id() == "demo"
    assert all(finds_itself(image, "demo") for image in first)

    # An upload during the switch is indexed by both models.
    late = make_image(first[0].owner, "circle", color=(20, 120, 220), title="late")
    index(late)
    assert model_of(late) == "demo" and len(vector_of(late)) == 128
    kept = ModelEmbedding.objects.get(image=late, model_id="demo-64")
    assert kept.as_array().shape == (64,)
    assert late.pk in search_index.embedding_store("demo-64", 64).ids()
    assert switching.progress().done == 3 and switching.progress().total == 5

    # Started again (a new task, a restarted worker): only the two images still missing are encoded.
    report = switching.build("demo-64", max_batches=None, batch_size=2, lock=False)
    assert (report.encoded, report.remaining, report.switched) == (2, 0, True)
    assert switching.active_model_id() == "demo-64"
    assert search_index.embedding_store("demo-64", 64).ids() == {i.pk for i in [*first, late]}
    late.refresh_from_db()
    np.testing.assert_array_equal(vector_of(late), kept.as_array())  # the row built then, not re-encoded
    assert finds_itself(late, "demo-64")


def test_start_refuses_what_cannot_be_done_and_cancel_lets_the_build_go() -> None:
    images = indexed_images(2)
    with pytest.raises(BadInput, match="already the active model"):
        switching.start("demo")
    with pytest.raises(BadInput, match="Name the model"):
        switching.start("  ")
    with pytest.raises(BadInput, match="printable"):
        switching.start("demo\x00")
    switching.start("demo-64")
    with pytest.raises(BadInput, match="switch to demo-64 is under way"):
        switching.start("some/other-model")
    switching.build("demo-64", max_batches=1, batch_size=1, lock=False)
    assert ModelEmbedding.objects.filter(model_id="demo-64").count() == 1

    out = StringIO()
    call_command("reindex", cancel=True, stdout=out)
    assert "Cancelled the switch to demo-64" in out.getvalue()
    assert not ModelEmbedding.objects.filter(model_id="demo-64").exists()
    assert not collection_exists("demo-64", 64)
    assert switching.progress().target == "" and switching.active_model_id() == "demo"
    # A build task still queued finds the switch gone and does nothing.
    assert switching.build("demo-64", lock=False).stale
    assert all(finds_itself(image, "demo") for image in images)


def test_a_changed_clip_model_overrides_an_old_switch(settings) -> None:
    ModelSwitch.objects.create(pk=1, active="demo-64", configured="demo")
    assert switching.active_model_id() == "demo-64"
    settings.CLIP_MODEL = "some/new-model"  # the operator chose again, after the switch
    assert switching.active_model_id() == "some/new-model"


def test_deleting_an_image_mid_switch_removes_it_from_the_target_collection_too(
    django_capture_on_commit_callbacks,
) -> None:
    images = indexed_images(2)
    switching.start("demo-64")
    switching.build("demo-64", max_batches=1, batch_size=2, lock=False)  # encodes both, then switches
    switching.start("demo")  # and back: demo's kept vectors are the new build's head start
    assert switching.progress().done == 2
    with django_capture_on_commit_callbacks(execute=True):
        Image.objects.get(pk=images[0].pk).delete()
    assert search_index.embedding_store("demo", 128).ids() == {images[1].pk}
    assert search_index.embedding_store("demo-64", 64).ids() == {images[1].pk}


def test_reconcile_rebuilds_a_switch_collection_from_the_database_and_mends_stragglers() -> None:
    images = indexed_images(3)
    switching.start("demo-64")
    switching.build("demo-64", max_batches=1, batch_size=3, lock=False)
    assert switching.active_model_id() == "demo-64"
    # A vector of a model neither active, target nor previous (a cancelled build's last batch),
    # superseded by the image's active vector; and one that is an image's only vector, kept.
    gone = ModelEmbedding.objects.get(image=images[0], model_id="demo").vector
    ModelEmbedding.objects.create(image=images[0], model_id="cancelled-model", vector=gone)
    only = make_image(images[0].owner, "circle", color=(10, 200, 10))
    ModelEmbedding.objects.create(image=only, model_id="cancelled-model", vector=gone)
    # Milvus lost the new collection.
    get_client().drop_collection(collection_name("demo-64", 64))
    search_index.forget_collections()

    report = reconcile.reconcile()

    assert report.model_switch["stray_vectors_deleted"] == 1
    assert set(
        ModelEmbedding.objects.filter(model_id="cancelled-model").values_list("image_id", flat=True)
    ) == {only.pk}
    assert search_index.embedding_store("demo-64", 64).ids() == {i.pk for i in images}
    assert search_index.embedding_store("demo", 128).ids() == {i.pk for i in images}
    assert all(finds_itself(image, "demo-64") for image in images)


def test_images_indexed_with_the_old_model_only_across_the_switch_are_indexed_again(monkeypatch) -> None:
    images = indexed_images(2)
    switching.start("demo-64")
    switching.build("demo-64", max_batches=1, batch_size=2, lock=False)
    # A worker that indexed an image with the old model alone, the switch committing meanwhile.
    straggler = images[0]
    ModelEmbedding.objects.filter(image=straggler, model_id="demo-64").delete()
    assert (model_of(straggler), model_of(images[1])) == ("", "demo-64")  # the image JSON says so
    with pytest.raises(BadInput, match="1 image"):
        switching.drop_previous()  # its old vector is what it still has
    queued: list = []
    monkeypatch.setattr(switching, "enqueue_indexing", lambda ids: queued.append(ids) or True)
    assert switching.queue_outdated("demo-64") == 1 and queued == [[straggler.pk]]

    index(straggler)

    assert model_of(straggler) == "demo-64" and len(vector_of(straggler)) == 64
    assert finds_itself(straggler, "demo-64")
    assert switching.drop_previous() == "demo"


def test_sweeps_queue_a_build_only_when_none_waits_or_runs(monkeypatch) -> None:
    from search.pipeline.worker_status import redis_client

    sent: list = []
    monkeypatch.setattr(switching.current_app, "send_task", lambda *args, **kwargs: sent.append(args))
    client = redis_client()
    client.delete(switching.LOCK_KEY, switching.QUEUED_KEY)
    ModelSwitch.objects.create(pk=1, target="demo-64")
    try:
        assert switching.heal()["build_queued"] is True
        assert switching.heal()["build_queued"] is False  # one waits in the queue already
        client.delete(switching.QUEUED_KEY)
        client.set(switching.LOCK_KEY, "ingest@box", ex=60)
        assert switching.heal()["build_queued"] is False  # one runs
        client.delete(switching.LOCK_KEY)
        assert switching.heal()["build_queued"] is True
        assert sent == [(switching.BUILD_TASK,), (switching.BUILD_TASK,)]
    finally:
        client.delete(switching.LOCK_KEY, switching.QUEUED_KEY)
