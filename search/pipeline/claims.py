"""Which ingest worker is indexing which image right now: one lease per image in Redis.

The database says what waits (every `pending` row); a lease says who took it. `SET key token NX EX`
is atomic, so of two ingest workers draining at once each image goes to exactly one of them. A
lease expires unless its worker's heartbeat renews it, so an image held by a worker that died is
free again within CLAIM_TTL_SECONDS; a worker that restarts under the same name frees its own at
once (`release_owner`) before it sweeps pending rows. Nothing else is kept in Redis, so an outage
loses nothing: the rows simply stay pending.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Iterable

import redis

from .worker_status import redis_client

log = logging.getLogger(__name__)

CLAIM_PREFIX = "imagesearch:claim:"
# Renewed every HEARTBEAT_SECONDS (5) by a live worker; long enough for a task run outside a worker
# (no heartbeat: `manage.py`, tests) to finish a batch.
CLAIM_TTL_SECONDS = 120

# Compare-and-act: only the holder may renew or drop its lease.
_IF_HELD = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call({}) end return 0"
_RENEW = _IF_HELD.format("'expire', KEYS[1], ARGV[2]")
_RELEASE = _IF_HELD.format("'del', KEYS[1]")

_live: set[Claims] = set()  # this process's claim sets, renewed by the heartbeat
_live_lock = threading.Lock()


def _key(image_id: int) -> str:
    return f"{CLAIM_PREFIX}{image_id}"


class Claims:
    """The leases one indexing task holds. `owner` (the worker's hostname) prefixes the token so a
    restarted worker can find and free what its previous life held."""

    def __init__(self, owner: str, client: redis.Redis | None = None) -> None:
        self.token = f"{owner or 'local'}|{uuid.uuid4().hex}"
        self.client = client or redis_client()
        self.held: list[int] = []

    def __enter__(self) -> Claims:
        with _live_lock:
            _live.add(self)
        return self

    def __exit__(self, *exc) -> None:
        with _live_lock:
            _live.discard(self)
        with contextlib.suppress(redis.RedisError):  # unreleased leases expire on their own
            self.release()

    def free(self, ids: Iterable[int]) -> list[int]:
        """Those of `ids` nobody holds now (a hint: `take` decides)."""
        ids = list(ids)
        if not ids:
            return []
        values = self.client.mget([_key(i) for i in ids])
        return [i for i, value in zip(ids, values, strict=True) if value is None]

    def take(self, ids: Iterable[int], limit: int | None = None) -> list[int]:
        """Lease up to `limit` of `ids`, in order; returns those won (others hold the rest)."""
        won: list[int] = []
        pending = [i for i in dict.fromkeys(ids) if i not in self.held]
        while pending and (limit is None or len(won) < limit):
            chunk = pending if limit is None else pending[: limit - len(won)]
            pending = pending[len(chunk) :]
            pipe = self.client.pipeline(transaction=False)
            for image_id in chunk:
                pipe.set(_key(image_id), self.token, nx=True, ex=CLAIM_TTL_SECONDS)
            won += [i for i, ok in zip(chunk, pipe.execute(), strict=True) if ok]
        self.held += won
        return won

    def renew(self) -> None:
        if not self.held:
            return
        pipe = self.client.pipeline(transaction=False)
        for image_id in self.held:
            pipe.eval(_RENEW, 1, _key(image_id), self.token, CLAIM_TTL_SECONDS)
        pipe.execute()

    def release(self, ids: Iterable[int] | None = None) -> None:
        dropping = list(self.held if ids is None else ids)
        if not dropping:
            return
        pipe = self.client.pipeline(transaction=False)
        for image_id in dropping:
            pipe.eval(_RELEASE, 1, _key(image_id), self.token)
        pipe.execute()
        gone = set(dropping)
        self.held = [i for i in self.held if i not in gone]


def renew_all() -> None:
    """Keep this process's leases alive (called by the worker's heartbeat)."""
    with _live_lock:
        live = list(_live)
    for claims in live:
        claims.renew()


def release_owner(owner: str, client: redis.Redis | None = None) -> int:
    """Free every lease a worker of this name holds: called when it starts, so the batch its
    previous life died with is indexed again now, not when the leases expire."""
    client = client or redis_client()
    keys = list(client.scan_iter(match=CLAIM_PREFIX + "*", count=500))
    freed = 0
    for key, value in zip(keys, client.mget(keys) if keys else [], strict=True):
        token = value.decode() if isinstance(value, bytes) else value
        if token and token.split("|", 1)[0] == owner:
            freed += client.eval(_RELEASE, 1, key, token)
    return freed
