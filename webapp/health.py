"""/healthz: each component in plain words; 503 when one is down.

The body is exactly the public contract. The header `X-Encoder-State` (ok | loading | no_worker |
error) is the machine-readable form of `encoder`, for supervisors such as `make run` that must not
parse the human message; `X-Worker-States` (`ingest=ok,ocr=loading,query=ok`) says the same of the
workers serving each queue, so `make run` reports ready only once every worker it started can answer."""

from __future__ import annotations

import enum
from urllib.parse import urlsplit, urlunsplit

import redis
from django.conf import settings
from django.db import connection
from django.http import JsonResponse

from search.engines.vector_store import VectorStoreError, ping
from search.pipeline.worker_status import SummaryState, WorkerState, encoder_summary, read_all, redis_client

ENCODER_STATE_HEADER = "X-Encoder-State"
WORKER_STATES_HEADER = "X-Worker-States"


class Health(enum.StrEnum):
    OK = "ok"
    LOADING = "loading"
    ERROR = "error"


def _down(detail: str) -> str:
    return f"{Health.ERROR}: {detail}"


def redact(url: str) -> str:
    """The URL without its password: /healthz is public."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return Health.OK
    except Exception as exc:
        return _down(str(exc))


def _worker_states(states: list[WorkerState]) -> str:
    """`ingest=ok,ocr=ok,query=loading`: whether the workers serving each queue can answer."""
    queues = (settings.INGEST_QUEUE, settings.OCR_QUEUE, settings.QUERY_QUEUE)
    return ",".join(f"{queue}={encoder_summary(states, queue)[0]}" for queue in queues)


def _redis_and_encoder() -> tuple[str, str, SummaryState, str]:
    try:
        client = redis_client()
        client.ping()
        states = read_all(client)
    except redis.RedisError as exc:
        redis_state = _down(f"Redis is unreachable at {redact(settings.REDIS_URL)}: {exc}")
        return redis_state, _down("unknown while Redis is down"), SummaryState.ERROR, ""
    state, detail = encoder_summary(states)
    workers = _worker_states(states)
    if state == SummaryState.OK:
        return Health.OK, Health.OK, state, workers
    if state == SummaryState.LOADING:
        return Health.OK, Health.LOADING, state, workers
    return Health.OK, _down(detail), state, workers


def _milvus() -> str:
    try:
        ping()
        return Health.OK
    except VectorStoreError as exc:
        return _down(str(exc))


def healthz(request):
    redis_state, encoder, encoder_state, workers = _redis_and_encoder()
    body = {"database": _database(), "redis": redis_state, "milvus": _milvus(), "encoder": encoder}
    healthy = all(value in (Health.OK, Health.LOADING) for value in body.values())
    response = JsonResponse(body, status=200 if healthy else 503)
    response[ENCODER_STATE_HEADER] = encoder_state
    if workers:
        response[WORKER_STATES_HEADER] = workers
    return response
