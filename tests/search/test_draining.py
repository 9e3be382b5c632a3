"""Batches across uploads (search.pipeline.draining, search.pipeline.claims): single-image indexing
tasks share forward passes, two workers never hold the same image, and nothing is lost when a batch
fails or a worker dies. The real pipeline in this process: demo encoder, the session's Redis and
Milvus Lite."""

from __future__ import annotations

import threading

import pytest
import redis
from django.db import connection

from ingestion.models import Image
from search import tasks
from search.engines.encoder import get_encoder
from search.engines.vector_store import VectorStoreError
from search.pipeline import claims as claims_module
from search.pipeline import draining, indexing, queueing
from search.pipeline.claims import Claims
from tests.factories import make_image, make_user, noise_png

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_index")]


@pytest.fixture(autouse=True)
def _quiet(settings, redis_server):
    settings.OCR_ENABLED = False  # no OCR tasks sent from these tests
    settings.INGEST_BATCH_SIZE = 32
    settings.INGEST_BATCH_WAIT_MS = 0
    yield
    # Image ids come again in the next test's rolled-back database: no lease may outlive its test.
    client = redis.Redis.from_url(redis_server)  # the session's, whatever a test set REDIS_URL to
    for key in client.scan_iter(match=claims_module.CLAIM_PREFIX + "*"):
        client.delete(key)


@pytest.fixture
def forward_passes(monkeypatch) -> list[int]:
    """The batch size of every image forward pass of the real encoder's model."""
    model = get_encoder().model
    real = model.get_image_features
    passes: list[int] = []

    def counting(*args, **kwargs):
        passes.append(int(kwargs["pixel_values"].shape[0]))
        return real(*args, **kwargs)

    monkeypatch.setattr(model, "get_image_features", counting)
    return passes


def uploads(count: int) -> list[int]:
    owner = make_user()
    return [make_image(owner, data=noise_png(seed)).pk for seed in range(count)]


def test_forty_single_image_tasks_cost_two_forward_passes(forward_passes) -> None:
    ids = uploads(40)
    # As the solo ingest worker meets them: one task per upload, in order.
    reports = [tasks.index_images.apply(args=[[pk]]).get() for pk in ids]

    assert set(Image.objects.filter(pk__in=ids).values_list("status", flat=True)) == {Image.Status.INDEXED}
    assert forward_passes == [32, 8]
    assert sorted(pk for r in reports for pk in r["indexed"]) == ids  # each image indexed once
    assert all(r["indexed"] == [] for r in reports[1:])  # the rest found theirs done
    assert Image.objects.filter(pk__in=ids, attempts=1).count() == 40


def test_a_task_waits_briefly_for_uploads_still_arriving(settings, forward_passes) -> None:
    settings.INGEST_BATCH_WAIT_MS = 30_000  # ended by the batch filling up, never by the clock
    settings.INGEST_BATCH_SIZE = 4
    first = uploads(1)
    later: list[int] = []

    def upload_more() -> None:
        owner = make_user("bob")
        later.extend(make_image(owner, data=noise_png(100 + i)).pk for i in range(3))

    # The uploads land while the task waits; the test database is this thread's connection, so the
    # rows are made from the waiting loop itself (as another request's commit would appear).
    real_fill = draining.Drain._fill
    calls = []

    def fill(self, batch):
        calls.append(len(batch))
        if len(calls) == 2:  # the first look found only the task's own image; now more arrive
            upload_more()
        return real_fill(self, batch)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(draining.Drain, "_fill", fill)
        report = tasks.index_images.apply(args=[first]).get()

    assert report["indexed"] == sorted(first + later)
    assert forward_passes == [4]


def test_a_worker_never_takes_an_image_another_one_holds(redis_server) -> None:
    ids = uploads(6)
    other = Claims("ingest-b@host")
    assert other.take(ids[:3]) == ids[:3]
    try:
        mine = Claims("ingest-a@host")
        drained = draining.Drain(mine, size=32, wait_s=0).first(ids[:3])  # our task's ids: held
        assert drained == ids[3:]  # only what nobody holds
        assert mine.take(ids[:3]) == [] and other.take(ids) == []
        mine.release()
        assert other.take(ids) == ids[3:]
    finally:
        other.release()


def test_a_batch_that_fails_leaves_its_rows_pending_and_free(forward_passes, monkeypatch) -> None:
    ids = uploads(3)

    def broken(*args, **kwargs):
        raise RuntimeError("the process dies here")

    monkeypatch.setattr(indexing.index, "publish", broken)
    with pytest.raises(RuntimeError):
        tasks.index_images.apply(args=[ids[:1]], throw=True)
    assert set(Image.objects.filter(pk__in=ids).values_list("status", flat=True)) == {Image.Status.PENDING}
    monkeypatch.undo()

    # Nobody holds them now: the next task (any upload's) takes them all.
    assert tasks.index_images.apply(args=[ids[2:]]).get()["indexed"] == ids


def test_a_restarted_worker_frees_what_its_previous_life_held(redis_server) -> None:
    ids = uploads(2)
    dead = Claims("ingest@box")
    dead.take(ids)  # killed mid-batch: never released, the leases would wait for their expiry
    assert draining.Drain(Claims("other@box"), size=32, wait_s=0).first(ids) == []

    assert claims_module.release_owner("ingest@box") == 2
    report = tasks.index_images.apply(args=[ids]).get()
    assert report["indexed"] == ids


def test_a_milvus_outage_retries_every_image_the_task_held(monkeypatch) -> None:
    ids = uploads(3)
    retried = {}

    class Retry(Exception):
        pass

    def retry(args=None, kwargs=None, exc=None, countdown=None, **extra):
        retried.update(args=args, kwargs=kwargs, exc=exc)
        return Retry()

    def down(*args, **kwargs):
        raise VectorStoreError("Milvus is down")

    monkeypatch.setattr(tasks.index_images, "retry", retry)
    monkeypatch.setattr(indexing.index, "publish", down)
    with pytest.raises(Retry):
        tasks.index_images.apply(args=[ids[:1]], throw=True)
    # The task's own image and the two it took along: their own tasks found them taken and ended.
    assert retried["args"] == [ids] and retried["kwargs"] == {"force": False}
    assert set(Image.objects.filter(pk__in=ids).values_list("failure_reason", flat=True)) == {
        "Waiting for Milvus: Milvus is down"
    }
    assert Claims("probe").take(ids) == ids  # released for the retry


def test_force_reindexes_an_indexed_image_and_leaves_others_to_their_tasks(forward_passes) -> None:
    indexed, waiting = uploads(2)
    tasks.index_images.apply(args=[[indexed]]).get()  # takes `waiting` along
    assert Image.objects.get(pk=waiting).status == Image.Status.INDEXED
    forward_passes.clear()

    assert tasks.index_images.apply(args=[[indexed]]).get()["indexed"] == []  # nothing to do
    assert forward_passes == []
    report = tasks.index_images.apply(args=[[indexed]], kwargs={"force": True}).get()
    assert report["indexed"] == [indexed] and forward_passes == [1]
    assert Image.objects.get(pk=indexed).attempts == 2


def test_the_next_batch_is_prepared_while_this_one_is_encoded(settings) -> None:
    """Bounded prefetch: batch 2's preparation runs beside batch 1's forward pass, and no third
    batch is handed out before the first is done."""
    settings.PREPARE_THREADS = 2
    first, second = uploads(2)
    second_prepared = threading.Event()
    real_prepare = indexing._prepare_one
    events: list[str] = []

    def prepare(image, encoder, target=None):
        outcome = real_prepare(image, encoder, target)
        if image.pk == second:
            second_prepared.set()
        return outcome

    class Watching:
        """The real encoder; batch 1's forward pass waits to see batch 2 being prepared."""

        def __init__(self) -> None:
            self.inner = get_encoder()
            self.model_id, self.dim = self.inner.model_id, self.inner.dim

        def image_inputs(self, image):
            return self.inner.image_inputs(image)

        def encode_image_inputs(self, inputs):
            events.append(f"encode {len(inputs)}; second prepared: {second_prepared.wait(60)}")
            return self.inner.encode_image_inputs(inputs)

    handed = iter([[second], []])
    in_flight: list[int] = []

    def next_ids():
        in_flight.append(len(events))
        return next(handed)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(indexing, "_prepare_one", prepare)
        report = indexing.index_stream([first], next_ids, encoder=Watching())

    assert report.indexed == [first, second]
    assert events[0] == "encode 1; second prepared: True"
    # next_ids was asked once per batch, each time before that batch's forward pass: one ahead.
    assert in_flight == [0, 1]


def test_without_redis_a_task_still_indexes_its_own_images(settings, forward_passes) -> None:
    own, other = uploads(2)
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens: no leases to be had
    report = tasks.index_images.apply(args=[[own]]).get()
    assert report["indexed"] == [own] and forward_passes == [1]
    assert Image.objects.get(pk=other).status == Image.Status.PENDING  # left to its own task


@pytest.mark.django_db(transaction=True)
def test_two_workers_draining_at_once_index_each_image_once(settings, monkeypatch) -> None:
    """Two ingest workers (threads here, each with its own database connection) take from the same
    pending rows at the same moment: every image is indexed exactly once."""
    settings.INGEST_BATCH_SIZE = 4
    ids = uploads(12)
    # Milvus Lite's server refuses two flushes at once ("current_seq is monotonic"), which fails a
    # batch into its retry (tested above); here the writes take turns so each image is encoded once.
    publishing = threading.Lock()
    real_publish = indexing.index.publish

    def publish(images):
        with publishing:
            return real_publish(images)

    monkeypatch.setattr(indexing.index, "publish", publish)
    start = threading.Barrier(2)
    reports: list[dict] = []

    def worker(own: list[int]) -> None:
        try:
            start.wait(30)
            reports.append(tasks.index_images.apply(args=[own]).get())
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(own,)) for own in ([ids[0]], [ids[1]])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)

    first, second = (set(r["indexed"]) for r in reports)
    assert first | second == set(ids) and not first & second
    rows = list(Image.objects.filter(pk__in=ids).values_list("pk", "status", "attempts", "failure_reason"))
    assert all(r[1] == Image.Status.INDEXED and r[2] == 1 for r in rows), (rows, reports)


def test_redis_failing_mid_batch_leaves_the_rows_to_the_unqueued_sweep(monkeypatch) -> None:
    own, other = uploads(2)
    real_take = Claims.take

    def failing(self, ids, limit=None):
        if limit is not None:  # the own ids were leased; Redis dies before the rest
            raise redis.ConnectionError("Connection closed by server.")
        return real_take(self, ids, limit)

    monkeypatch.setattr(Claims, "take", failing)
    report = tasks.index_images.apply(args=[[own]]).get()
    assert report["pending"] == [own]
    assert Image.objects.get(pk=own).failure_reason == queueing.UNQUEUED_REASON  # the sweep's mark
    assert Image.objects.get(pk=own).status == Image.Status.PENDING
    assert Image.objects.get(pk=other).failure_reason == ""
