"""Workers publish their encoder state to Redis; /healthz and the pages read it from there. They
also publish which images they are indexing right now (the status page's "being indexed")."""

from __future__ import annotations

import contextlib
import enum
import json
import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass

import redis
from django.conf import settings

from ..engines.encoder import EncoderState, encoder_state, get_encoder

logger = logging.getLogger(__name__)

KEY_PREFIX = "imagesearch:worker:"
HEARTBEAT_SECONDS = 5
TTL_SECONDS = 20


class SummaryState(enum.StrEnum):
    """What the workers serving one queue add up to; a str, so templates and JSON see its value."""

    OK = "ok"
    LOADING = "loading"
    NO_WORKER = "no_worker"
    ERROR = "error"


@dataclass
class WorkerState:
    hostname: str
    queues: list[str]
    state: EncoderState  # stored in Redis as its string value
    detail: str = ""
    model: str = ""
    device: str = ""
    dim: int = 0

    def __post_init__(self) -> None:
        self.state = EncoderState(self.state)  # read back from JSON as a plain str


def redis_client() -> redis.Redis:
    return redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2, decode_responses=True
    )


def publish(state: WorkerState, client: redis.Redis | None = None) -> None:
    client = client or redis_client()
    client.set(KEY_PREFIX + state.hostname, json.dumps(asdict(state)), ex=TTL_SECONDS)


def read_all(client: redis.Redis | None = None) -> list[WorkerState]:
    client = client or redis_client()
    keys = sorted(client.scan_iter(match=KEY_PREFIX + "*", count=100))
    states = []
    for key, raw in zip(keys, client.mget(keys) if keys else [], strict=True):
        if not raw:  # expired between SCAN and MGET
            continue
        try:
            states.append(WorkerState(**json.loads(raw)))
        except (TypeError, ValueError) as exc:  # a worker of another version: skip it, not /healthz
            logger.warning("Ignoring unreadable worker state %s: %s", key, exc)
    return states


def encoder_summary(states: list[WorkerState], queue: str | None = None) -> tuple[SummaryState, str]:
    """(state, plain-words detail) for the workers serving `queue`."""
    queue = queue or settings.QUERY_QUEUE
    serving = [s for s in states if queue in s.queues]
    if not serving:
        return SummaryState.NO_WORKER, f"no worker is serving the '{queue}' queue; start one (make run does)."
    ok = next((s for s in serving if s.state == EncoderState.OK), None)
    if ok:
        return SummaryState.OK, f"{ok.model} on {ok.device}"
    if any(s.state in (EncoderState.LOADING, EncoderState.IDLE) for s in serving):
        return SummaryState.LOADING, "the model is loading."
    return SummaryState.ERROR, serving[0].detail or "the model could not be loaded"


# --- What is being indexed right now. An indexing task marks its batch in Redis as it starts and
# unmarks it when it ends, however it ends; the mark expires unless the worker's heartbeat renews
# it, so a worker that dies mid-batch stops counting within INDEXING_TTL_SECONDS.
INDEXING_PREFIX = "imagesearch:indexing:"
INDEXING_TTL_SECONDS = 30
INDEXING_TASK = "search.tasks.index_images"
_indexing: dict[str, list[int]] = {}  # task id -> image ids, of tasks running in this process
_indexing_lock = threading.Lock()


def mark_indexing(task_id: str, ids: list[int], client: redis.Redis | None = None) -> None:
    with _indexing_lock:
        _indexing[task_id] = list(ids)
    (client or redis_client()).set(INDEXING_PREFIX + task_id, json.dumps(list(ids)), ex=INDEXING_TTL_SECONDS)


def unmark_indexing(task_id: str, client: redis.Redis | None = None) -> None:
    with _indexing_lock:
        _indexing.pop(task_id, None)
    (client or redis_client()).delete(INDEXING_PREFIX + task_id)


def renew_indexing(client: redis.Redis | None = None) -> None:
    """Keep this process's marks alive (called by its heartbeat)."""
    with _indexing_lock:
        running = dict(_indexing)
    if running:
        client = client or redis_client()
        for task_id, ids in running.items():
            client.set(INDEXING_PREFIX + task_id, json.dumps(ids), ex=INDEXING_TTL_SECONDS)


def read_indexing(client: redis.Redis | None = None) -> set[int]:
    """The ids of every image some worker is indexing now."""
    client = client or redis_client()
    keys = list(client.scan_iter(match=INDEXING_PREFIX + "*", count=100))
    ids: set[int] = set()
    for raw in client.mget(keys) if keys else []:
        with contextlib.suppress(TypeError, ValueError):  # expired between SCAN and MGET, or not ours
            ids.update(int(i) for i in json.loads(raw))
    return ids


def _task_ids(args, kwargs) -> list[int] | None:
    ids = args[0] if args else (kwargs or {}).get("ids")
    try:
        return [int(i) for i in ids]
    except (TypeError, ValueError):
        return None


def indexing_started(sender=None, task_id=None, task=None, args=None, kwargs=None, **extra) -> None:
    """Celery's `task_prerun` (connected in `SearchConfig.ready()`): mark an indexing batch."""
    if getattr(task, "name", None) != INDEXING_TASK or not task_id:
        return
    ids = _task_ids(args, kwargs)
    if ids:
        with contextlib.suppress(redis.RedisError):  # the status page's count never fails a batch
            mark_indexing(task_id, ids)


def indexing_ended(sender=None, task_id=None, task=None, **extra) -> None:
    """Celery's `task_postrun`: unmark it, however the task ended."""
    if getattr(task, "name", None) != INDEXING_TASK or not task_id:
        return
    with contextlib.suppress(redis.RedisError):
        unmark_indexing(task_id)


class Heartbeat:
    """Publishes this worker's encoder state every few seconds from a daemon thread."""

    def __init__(
        self,
        hostname: str,
        queues: list[str],
        on_ready: Callable[[], None] | None = None,
        on_beat: Callable[[], None] | None = None,
        state: Callable[[], tuple[EncoderState, str]] | None = None,
    ) -> None:
        self.hostname = hostname or socket.gethostname()
        self.queues = queues
        self.on_ready = on_ready
        self.on_beat = on_beat  # e.g. renewing this worker's leases on images (search.pipeline.claims)
        # What this worker needs before it can answer: the encoder, unless it says otherwise (the
        # OCR worker reports its OCR engine).
        self.state = state
        self._stop = threading.Event()
        self._ready_fired = False

    def snapshot(self) -> WorkerState:
        if self.state:
            state, detail = self.state()
            return WorkerState(self.hostname, self.queues, state, detail)
        state, detail = encoder_state()
        model = device = ""
        dim = 0
        if state == EncoderState.OK:
            encoder = get_encoder()
            model, device, dim = encoder.model_id, encoder.device, encoder.dim
        return WorkerState(self.hostname, self.queues, state, detail, model, device, dim)

    def beat(self) -> None:
        snapshot = self.snapshot()
        # Redis down: the worker itself reconnects; the next beat tries again.
        with contextlib.suppress(redis.RedisError):
            publish(snapshot)
            renew_indexing()
            if self.on_beat:
                self.on_beat()
        if snapshot.state == EncoderState.OK and not self._ready_fired and self.on_ready:
            self._ready_fired = True
            self.on_ready()

    def run(self) -> None:
        while not self._stop.is_set():
            self.beat()
            self._stop.wait(HEARTBEAT_SECONDS if self._ready_fired else 0.5)

    def start(self) -> None:
        threading.Thread(target=self.run, name="encoder-heartbeat", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(redis.RedisError):
            redis_client().delete(KEY_PREFIX + self.hostname)
