"""/healthz: each component in plain words; 503 when one is down."""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import JsonResponse


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception as exc:
        return f"error: {exc}"


def _redis_and_encoder() -> tuple[str, str]:
    import redis

    from search.worker_status import encoder_summary, read_all, redis_client

    try:
        client = redis_client()
        client.ping()
        states = read_all(client)
    except redis.RedisError as exc:
        return (
            f"error: Redis is unreachable at {settings.REDIS_URL}: {exc}",
            "error: unknown while Redis is down",
        )
    state, detail = encoder_summary(states)
    return "ok", state if state != "error" else f"error: {detail}"


def _milvus() -> str:
    from search.vector_store import VectorStoreError, ping

    try:
        ping()
        return "ok"
    except VectorStoreError as exc:
        return f"error: {exc}"


def healthz(request):
    redis_state, encoder = _redis_and_encoder()
    body = {"database": _database(), "redis": redis_state, "milvus": _milvus(), "encoder": encoder}
    healthy = all(v in ("ok", "loading") for v in body.values())
    return JsonResponse(body, status=200 if healthy else 503)
