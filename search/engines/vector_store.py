"""Vector storage in Milvus (Milvus Lite in-process or a Milvus / milvus-lite server).

This is the only module that imports pymilvus; everything else talks to ``VectorStore`` (embeddings)
and ``HashStore`` (perceptual hashes: binary vectors on a server, float ones on Lite). What the
engine at a URI can do is read from its version (`engine()`), never assumed: the tests run every
store against Milvus Lite and a Milvus 2.3.5 server; compose runs 2.5.

Reads and writes on a server: a search sees this process's own writes at once (Session
consistency) and other processes' within a time tick (~200 ms); batched searches and `ids()`,
which run in workers and must see every write made before them (a ban, a copy another worker
just published), wait for the newest timestamp (Strong, ~200 ms a call).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlparse

import grpc
import numpy as np
from django.conf import settings
from pymilvus import DataType, MilvusClient
from pymilvus.exceptions import MilvusException

from core.errors import ServiceUnavailable

_T = TypeVar("_T")

_CONNECT_TIMEOUT = 5.0  # seconds to open a channel
_PING_TIMEOUT = 3.0
# Without a timeout pymilvus retries UNAVAILABLE 75 times with back-off (minutes).
_OP_TIMEOUT = 60.0
_UPSERT_BATCH = 1000
_ID_PAGE = 5000
_QUERY_WINDOW = 16384  # Milvus' largest offset + limit of one query
_MAX_NAME_BODY = 64
_MAX_EF = 32768  # Milvus' upper bound for HNSW ef

PK, VECTOR, OWNER, PUBLIC, CREATED = "id", "embedding", "owner_id", "is_public", "created_at"
_VISIBILITIES = ("public", "private")
_SESSION, _STRONG = "Session", "Strong"


class VectorStoreError(ServiceUnavailable):
    """Any failure talking to Milvus. The message (for logs and /healthz) names the server; users
    are told only that search is unavailable."""

    public_default = "The search index is unavailable right now; try again in a moment."


@dataclass(frozen=True)
class Hit:
    id: int
    score: float  # cosine similarity


def _as_int(name: str, value: object) -> int:
    # bool is an int subclass but never a valid id/timestamp; str is rejected so raw user
    # input can never reach an expression.
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    return int(value)


@dataclass(frozen=True)
class SearchFilter:
    """Typed search restriction; ``expression()`` renders it for Milvus."""

    viewer_id: int | None = None  # None = anonymous: only public rows
    owner_id: int | None = None
    visibility: str | None = None  # "public" | "private" | None
    created_after: int | None = None  # epoch seconds, inclusive
    created_before: int | None = None  # epoch seconds, inclusive
    exclude_ids: tuple[int, ...] = ()
    # These rows only, whatever their public flag: ids the database's visibility rule already
    # chose for this viewer (a moderator's search among withheld images).
    only_ids: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        for name in ("viewer_id", "owner_id", "created_after", "created_before"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _as_int(name, value))
        if self.visibility is not None and self.visibility not in _VISIBILITIES:
            raise ValueError(f"visibility must be one of {_VISIBILITIES} or None")
        if isinstance(self.exclude_ids, str | bytes):
            raise TypeError("exclude_ids must be a sequence of ints")
        ids = tuple(_as_int("exclude_ids", i) for i in self.exclude_ids)
        object.__setattr__(self, "exclude_ids", ids)
        if self.only_ids is not None:
            if isinstance(self.only_ids, str | bytes):
                raise TypeError("only_ids must be a sequence of ints")
            object.__setattr__(self, "only_ids", tuple(_as_int("only_ids", i) for i in self.only_ids))

    def expression(self) -> str:
        parts: list[str] = []
        if self.only_ids is not None:
            parts.append(f"{PK} in [{', '.join(str(i) for i in self.only_ids)}]")
        elif self.viewer_id is None:
            parts.append(f"{PUBLIC} == true")
        else:
            parts.append(f"({PUBLIC} == true or {OWNER} == {int(self.viewer_id)})")
        if self.owner_id is not None:
            parts.append(f"{OWNER} == {int(self.owner_id)}")
        if self.visibility is not None:
            parts.append(f"{PUBLIC} == {'true' if self.visibility == 'public' else 'false'}")
        if self.created_after is not None:
            parts.append(f"{CREATED} >= {int(self.created_after)}")
        if self.created_before is not None:
            parts.append(f"{CREATED} <= {int(self.created_before)}")
        if self.exclude_ids:
            parts.append(f"{PK} not in [{', '.join(str(int(i)) for i in self.exclude_ids)}]")
        return " and ".join(parts)


_HUB_ID = re.compile(r"[a-z][a-z0-9]*/[a-z0-9]+(?:-[a-z0-9]+)*")


def collection_name(model_id: str, dim: int) -> str:
    """Readable, collision-free collection name for a model and its embedding size.

    Plain hub ids ("openai/clip-vit-base-patch32") map to "img_openai_clip_vit_base_patch32_512":
    the owner has no "-"/"_", so the mapping can be reversed and two such ids never collide.
    Anything else (local paths, upper case, dots, long ids) gets "__" plus a sha1 prefix of
    the exact id; readable names never contain "__", so the two kinds cannot collide either.
    """
    dim = _as_int("dim", dim)
    if dim <= 0:
        raise ValueError("dim must be positive")
    if _HUB_ID.fullmatch(model_id) and len(model_id) <= _MAX_NAME_BODY:
        body = model_id.replace("/", "_").replace("-", "_")
    else:
        readable = re.sub(r"[^a-z0-9]+", "_", model_id.lower()).strip("_")[:_MAX_NAME_BODY]
        digest = hashlib.sha1(model_id.encode("utf-8")).hexdigest()[:12]
        body = f"{readable.rstrip('_') or 'model'}__{digest}"
    return f"img_{body}_{dim}"


@dataclass(frozen=True)
class VectorRow:
    id: int
    vector: Sequence[float] | np.ndarray | str | bytes  # a HashStore's rows: a hash (hex or bytes)
    owner_id: int
    is_public: bool
    created_at: int


# ---------------------------------------------------------------------------- engines


@dataclass(frozen=True)
class Engine:
    """What answers at a URI, from its version string: Milvus Lite ("milvus_lite-3.2.2") or a
    Milvus server ("v2.5.4"; the PyPI `milvus` package's build says "v2.3.5-lite")."""

    lite: bool
    version: tuple[int, int, int]

    @classmethod
    def parse(cls, text: str) -> Engine:
        text = str(text).strip().lower()
        match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
        version = tuple(int(g or 0) for g in match.groups()) if match else (0, 0, 0)
        return cls(lite=text.startswith("milvus_lite"), version=version)  # type: ignore[arg-type]

    @property
    def flushes_writes(self) -> bool:
        """Milvus Lite persists its file on flush. A server logs every write durably and seals
        segments by itself; a flush there seals them now (2-3 s a call on 2.3) and leaves many
        small segments, so writes are not flushed."""
        return self.lite

    @property
    def binary_vectors(self) -> bool:
        """BINARY_VECTOR fields with the HAMMING metric: every Milvus server (since 2.0); Milvus
        Lite has none, so hashes are stored there as +1/-1 float vectors (`HashStore`)."""
        return not self.lite


# ---------------------------------------------------------------------------- clients

_clients: dict[tuple[str, str], Any] = {}
_engines: dict[tuple[str, str], Engine] = {}
_clients_lock = threading.Lock()


def _is_local(uri: str) -> bool:
    return urlparse(uri).scheme.lower() not in ("http", "https", "tcp", "unix", "grpc")


def _resolve(uri: str | None, token: str | None) -> tuple[str, str]:
    return (uri or settings.MILVUS_URI, settings.MILVUS_TOKEN if token is None else token)


def get_client(uri: str | None = None, token: str | None = None) -> Any:
    """Process-wide cached MilvusClient for ``uri`` (a local ``*.db`` path opens Milvus Lite)."""
    key = _resolve(uri, token)
    with _clients_lock:
        client = _clients.get(key)
        if client is not None:
            return client
        try:
            # dedicated: pymilvus otherwise shares one channel per address and never closes
            # it, so dropping our client would not give a fresh connection.
            client = MilvusClient(uri=key[0], token=key[1], timeout=_CONNECT_TIMEOUT, dedicated=True)
        except Exception as exc:
            raise VectorStoreError(f"Milvus is unreachable at {key[0]}: {_describe(exc)}") from exc
        _clients[key] = client
        return client


def engine(uri: str | None = None, token: str | None = None) -> Engine:
    """The engine at ``uri``, asked once per process (its version cannot change while connected:
    a new server is a new connection, see `_drop_client`)."""
    key = _resolve(uri, token)
    found = _engines.get(key)
    if found is None:
        try:
            found = Engine.parse(get_client(*key).get_server_version(timeout=_PING_TIMEOUT))
        except VectorStoreError:
            raise
        except Exception as exc:
            _drop_client(key)
            raise VectorStoreError(f"Milvus is unreachable at {key[0]}: {_describe(exc)}") from exc
        _engines[key] = found
    return found


def close_client(uri: str | None = None, token: str | None = None) -> None:
    """Close the cached client; for a local path also stop the in-process Milvus Lite."""
    key = _resolve(uri, token)
    _drop_client(key)
    if _is_local(key[0]):
        try:
            from milvus_lite.server_manager import server_manager_instance

            server_manager_instance.release_server(key[0])
        except ImportError:
            pass


def _drop_client(key: tuple[str, str]) -> None:
    with _clients_lock:
        client = _clients.pop(key, None)
        _engines.pop(key, None)  # a restarted server may be another version
    if client is not None:
        with contextlib.suppress(Exception):  # already broken: nothing more to release
            client.close()


def _describe(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return str(message).strip()


def _is_connection_error(exc: BaseException) -> bool:
    if isinstance(exc, grpc.RpcError):
        return True
    if isinstance(exc, MilvusException) and exc.code == 2:  # Status.CONNECT_FAILED
        return True
    text = _describe(exc).lower()
    return any(s in text for s in ("unavailable", "fail connecting", "deadline", "retry timeout"))


def _is_missing_collection(exc: BaseException) -> bool:
    return getattr(exc, "code", None) == 100 or "does not exist" in _describe(exc).lower()


def _is_not_loaded(exc: BaseException) -> bool:
    text = _describe(exc).lower()
    code = getattr(exc, "code", None)
    return code == 101 or "not loaded" in text or "call load()" in text or "released" in text


# ---------------------------------------------------------------------------- store


_METRICS = ("COSINE", "IP", "L2")


class Collection:
    """What every collection shares: its rows' scalar fields (owner, visibility, date), the error
    mapping and self-healing of `_call`, deletes, ids. Subclasses say how a vector is stored and
    indexed (`_vector_field`, `_index`, `_encode`) and how it is searched."""

    def __init__(self, name: str, dim: int, uri: str | None = None, token: str | None = None):
        self._name = name
        self.dim = _as_int("dim", dim)
        self._uri = uri
        self._token = token

    @property
    def name(self) -> str:
        return self._name

    @property
    def uri(self) -> str:
        return _resolve(self._uri, self._token)[0]

    # -- plumbing

    def _call(self, what: str, fn: Callable[[Any], _T], *, reload: bool = True) -> _T:
        """Run ``fn(client)``, mapping errors to VectorStoreError.

        A collection released by a server restart is loaded and the call retried once; one that
        is gone (dropped, or Milvus data wiped) is created again, to be refilled by `reconcile`.
        """
        key = _resolve(self._uri, self._token)
        client = get_client(*key)
        try:
            return fn(client)
        except Exception as exc:
            if reload and not _is_connection_error(exc) and _is_missing_collection(exc):
                try:
                    self.ensure_collection()
                    return fn(client)
                except Exception as retry_exc:
                    exc = retry_exc
            elif reload and not _is_connection_error(exc) and _is_not_loaded(exc):
                try:
                    client.load_collection(self.name, timeout=_OP_TIMEOUT)
                    return fn(client)
                except Exception as retry_exc:
                    exc = retry_exc
            if _is_connection_error(exc):
                _drop_client(key)
                raise VectorStoreError(f"Milvus is unreachable at {key[0]}: {_describe(exc)}") from exc
            raise VectorStoreError(f"Milvus {what} on {self.name!r} failed: {_describe(exc)}") from exc

    @staticmethod
    def _expr(filter: SearchFilter | None) -> str:
        return filter.expression() if filter is not None else ""

    # -- what a subclass decides

    def _vector_field(self, schema: Any) -> None:
        raise NotImplementedError

    def _index(self) -> dict[str, Any]:
        """`add_index` arguments for the vector field: index_type, metric_type, params."""
        raise NotImplementedError

    def _encode(self, vector: Any) -> Any:
        """One row's vector as this collection stores it."""
        raise NotImplementedError

    # -- schema

    def ensure_collection(self) -> None:
        def run(client: Any) -> None:
            if not client.has_collection(self.name, timeout=_OP_TIMEOUT):
                schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
                schema.add_field(PK, DataType.INT64, is_primary=True)
                self._vector_field(schema)
                schema.add_field(OWNER, DataType.INT64)
                schema.add_field(PUBLIC, DataType.BOOL)
                schema.add_field(CREATED, DataType.INT64)
                try:
                    # Reads without an explicit level (tools, tests) see this process's writes.
                    client.create_collection(
                        self.name, schema=schema, consistency_level=_SESSION, timeout=_OP_TIMEOUT
                    )
                except Exception:
                    # Another process may have created it in the meantime.
                    if not client.has_collection(self.name, timeout=_OP_TIMEOUT):
                        raise
            self._check_dim(client)
            if not client.list_indexes(self.name, field_name=VECTOR):
                index = MilvusClient.prepare_index_params()
                index.add_index(field_name=VECTOR, **self._index())
                client.create_index(self.name, index, timeout=_OP_TIMEOUT)
            client.load_collection(self.name, timeout=_OP_TIMEOUT)

        self._call("ensure_collection", run, reload=False)

    def _check_dim(self, client: Any) -> None:
        info = client.describe_collection(self.name, timeout=_OP_TIMEOUT)
        for field in info.get("fields", []):
            if field.get("name") == VECTOR:
                dim = int(field.get("params", {}).get("dim", self.dim))
                if dim != self.dim:
                    raise VectorStoreError(f"collection {self.name!r} has dim {dim}, expected {self.dim}")

    # -- writes

    def upsert(self, rows: list[VectorRow]) -> None:
        records = [
            {
                PK: _as_int("id", row.id),
                VECTOR: self._encode(row.vector),
                OWNER: _as_int("owner_id", row.owner_id),
                PUBLIC: bool(row.is_public),
                CREATED: _as_int("created_at", row.created_at),
            }
            for row in rows
        ]
        for start in range(0, len(records), _UPSERT_BATCH):
            batch = records[start : start + _UPSERT_BATCH]
            self._call("upsert", lambda c, b=batch: c.upsert(self.name, b, timeout=_OP_TIMEOUT))

    def delete(self, ids: list[int]) -> None:
        pks = [_as_int("id", i) for i in ids]
        if pks:
            self._call("delete", lambda c: c.delete(self.name, ids=pks, timeout=_OP_TIMEOUT))

    def drop(self) -> None:
        """Remove the collection and its data (a model switched away from). No error if absent."""

        def run(client: Any) -> None:
            if client.has_collection(self.name, timeout=_OP_TIMEOUT):
                client.drop_collection(self.name, timeout=_OP_TIMEOUT)

        self._call("drop", run, reload=False)

    def flush(self) -> None:
        """Make the writes so far durable where the engine needs to be told (`Engine.flushes_writes`)."""
        if engine(self._uri, self._token).flushes_writes:
            self._call("flush", lambda c: c.flush(self.name, timeout=_OP_TIMEOUT), reload=False)

    # -- reads

    def _search(
        self,
        data: list,
        limit: int,
        filter: SearchFilter | None,
        params: dict,
        offset: int = 0,
        consistency: str = _SESSION,
    ) -> list:
        return self._call(
            "search",
            lambda c: c.search(
                self.name,
                data=data,
                filter=self._expr(filter),
                limit=limit,
                offset=offset,
                output_fields=[PK],
                search_params=params,
                consistency_level=consistency,
                timeout=_OP_TIMEOUT,
            ),
        )

    def ids(self) -> set[int]:
        """All stored ids, as of now: one query when they fit Milvus' largest result window, else
        an iterator (a plain query with a limit pages in insertion order, not by id). The iterator
        costs 1-2 s on a 2.3 server however few the rows."""

        def run(client: Any) -> set[int]:
            rows = client.query(
                self.name,
                filter="",
                output_fields=[PK],
                limit=_QUERY_WINDOW,
                consistency_level=_STRONG,
                timeout=_OP_TIMEOUT,
            )
            found = {int(r[PK]) for r in rows}
            if len(rows) < _QUERY_WINDOW:
                return found
            iterator = client.query_iterator(
                self.name,
                batch_size=_ID_PAGE,
                output_fields=[PK],
                consistency_level=_STRONG,
                timeout=_OP_TIMEOUT,
            )
            try:
                while batch := iterator.next():
                    found.update(int(r[PK]) for r in batch)
            finally:
                iterator.close()
            return found

        return self._call("ids", run)


class VectorStore(Collection):
    """One collection of float vectors (embeddings) under an HNSW index. Scores are the metric's:
    cosine similarity by default."""

    def __init__(
        self,
        name: str,
        dim: int,
        uri: str | None = None,
        token: str | None = None,
        metric: str = "COSINE",
    ):
        if metric not in _METRICS:
            raise ValueError(f"metric must be one of {_METRICS}")
        super().__init__(name, dim, uri, token)
        self.metric = metric

    def _vector_field(self, schema: Any) -> None:
        schema.add_field(VECTOR, DataType.FLOAT_VECTOR, dim=self.dim)

    def _index(self) -> dict[str, Any]:
        params = {"M": int(settings.HNSW_M), "efConstruction": int(settings.HNSW_EF_CONSTRUCTION)}
        return {"index_type": "HNSW", "metric_type": self.metric, "params": params}

    def _encode(self, vector: Any) -> list[float]:
        return self._vector(vector)

    def _vector(self, vector: Sequence[float] | np.ndarray) -> list[float]:
        arr = np.asarray(vector, dtype=np.float32).reshape(-1)
        if arr.shape[0] != self.dim:
            raise ValueError(f"vector has {arr.shape[0]} dims, collection {self.name} has {self.dim}")
        return arr.tolist()

    def _vectors(self, vectors: Sequence[Sequence[float]] | np.ndarray) -> list[list[float]]:
        arr = np.asarray(vectors, dtype=np.float32)
        if arr.ndim != 2 or arr.shape[1] != self.dim:
            raise ValueError(f"expected an (n, {self.dim}) array of vectors, got {arr.shape}")
        return arr.tolist()

    def _params(self, ef: int, **extra: float) -> dict[str, Any]:
        return {"metric_type": self.metric, "params": {"ef": ef, **extra}}

    @staticmethod
    def _hits(raw: Iterable[dict[str, Any]], lo: float | None = None, hi: float | None = None):
        hits = [Hit(int(h["id"]), float(h["distance"])) for h in raw]
        return [h for h in hits if (lo is None or h.score >= lo) and (hi is None or h.score <= hi)]

    def search(
        self,
        vector: Sequence[float] | np.ndarray,
        limit: int,
        filter: SearchFilter | None = None,
        offset: int = 0,
        min_score: float | None = None,
    ) -> list[Hit]:
        """Top ``limit`` hits after skipping ``offset``, best first."""
        limit, offset = _as_int("limit", limit), _as_int("offset", offset)
        if limit <= 0:
            return []
        ef = max(int(settings.HNSW_EF), min(limit + offset, _MAX_EF))
        raw = self._search([self._vector(vector)], limit, filter, self._params(ef), offset=offset)
        return self._hits(raw[0], lo=min_score)

    def range_search(
        self,
        vector: Sequence[float] | np.ndarray,
        min_score: float,
        limit: int,
        filter: SearchFilter | None = None,
        max_score: float = 1.0001,
    ) -> list[Hit]:
        """Up to ``limit`` hits with ``min_score <= score <= max_score``, best first."""
        limit = _as_int("limit", limit)
        if limit <= 0:
            return []
        # Range search over-fetches about 5 x limit candidates; an ef below that loses recall.
        ef = max(int(settings.HNSW_EF), min(5 * limit, _MAX_EF))
        # Milvus treats radius as exclusive (score > radius); nudge it to get ">=".
        params = self._params(ef, radius=float(min_score) - 1e-6, range_filter=float(max_score))
        raw = self._search([self._vector(vector)], limit, filter, params)
        return self._hits(raw[0], lo=float(min_score), hi=float(max_score))

    def search_many(
        self,
        vectors: Sequence[Sequence[float]] | np.ndarray,
        limit: int,
        filter: SearchFilter | None = None,
        min_score: float | None = None,
    ) -> list[list[Hit]]:
        """Top ``limit`` hits for each of many query vectors in one call, best first, those below
        ``min_score`` dropped. Much faster than range search (which Milvus Lite answers by
        scanning) when near neighbours are known to be few. Sees every write made before it."""
        limit = _as_int("limit", limit)
        data = self._vectors(vectors) if len(vectors) else []
        if limit <= 0 or not data:
            return [[] for _ in data]
        ef = max(int(settings.HNSW_EF), min(limit, _MAX_EF))
        raw = self._search(data, limit, filter, self._params(ef), consistency=_STRONG)
        return [self._hits(hits, lo=min_score) for hits in raw]

    def range_search_many(
        self,
        vectors: Sequence[Sequence[float]] | np.ndarray,
        min_score: float,
        limit: int,
        filter: SearchFilter | None = None,
        max_score: float = 1.0001,
    ) -> list[list[Hit]]:
        """`range_search` for many query vectors in one call: one list of hits per vector. Sees
        every write made before it."""
        limit = _as_int("limit", limit)
        data = self._vectors(vectors) if len(vectors) else []
        if limit <= 0 or not data:
            return [[] for _ in data]
        ef = max(int(settings.HNSW_EF), min(5 * limit, _MAX_EF))
        params = self._params(ef, radius=float(min_score) - 1e-6, range_filter=float(max_score))
        raw = self._search(data, limit, filter, params, consistency=_STRONG)
        return [self._hits(hits, lo=float(min_score), hi=float(max_score)) for hits in raw]


# ---------------------------------------------------------------------------- hashes


@dataclass(frozen=True)
class HashHit:
    id: int
    distance: int  # Hamming distance to the query hash, whatever the layout


HashValue = str | bytes | Sequence[float] | np.ndarray
BINARY_SUFFIX = "_bin"


class HashStore(Collection):
    """One collection of perceptual hashes (PDQ: 256 bits), in the layout the engine offers:

    - a Milvus server: a BINARY_VECTOR under HAMMING, BIN_FLAT (exact; 32 bytes a hash), in a
      collection named `<base>_bin`;
    - Milvus Lite, which has no binary vectors: +1/-1 float vectors under inner product (1 KB a
      hash), where Hamming = (bits - IP) / 2, in the collection named `<base>`.

    The layout is part of the name: a server that kept float-layout rows before it had this layout
    keeps them in the old collection, and `reconcile` fills the new one from the database.
    Rows take a hash as hex, as raw bytes, or as bits (+1/-1 or 1/0 per bit, `variants.pdq_vector`);
    searches answer Hamming distances on either layout.
    """

    def __init__(self, base_name: str, bits: int, uri: str | None = None, token: str | None = None):
        super().__init__(base_name, bits, uri, token)
        if self.dim % 8:
            raise ValueError("a hash's bits must fill whole bytes")
        self.base_name = base_name

    @property
    def binary(self) -> bool:
        """Whether this collection stores binary vectors (asks the engine once per process)."""
        return engine(self._uri, self._token).binary_vectors

    @property
    def name(self) -> str:
        return self.base_name + BINARY_SUFFIX if self.binary else self.base_name

    def layout_names(self) -> tuple[str, str]:
        """The collection names of the (float, binary) layouts of this store."""
        return self.base_name, self.base_name + BINARY_SUFFIX

    # -- layout

    def _vector_field(self, schema: Any) -> None:
        kind = DataType.BINARY_VECTOR if self.binary else DataType.FLOAT_VECTOR
        schema.add_field(VECTOR, kind, dim=self.dim)

    def _index(self) -> dict[str, Any]:
        if self.binary:
            # Exact, as the copy judgement assumes (an IVF index would miss some matches).
            return {"index_type": "BIN_FLAT", "metric_type": "HAMMING", "params": {}}
        params = {"M": int(settings.HNSW_M), "efConstruction": int(settings.HNSW_EF_CONSTRUCTION)}
        return {"index_type": "HNSW", "metric_type": "IP", "params": params}

    def _bits(self, value: HashValue) -> np.ndarray:
        """A hash as one 0/1 byte per bit; anything else is refused."""
        if isinstance(value, str):
            try:
                raw = bytes.fromhex(value)
            except ValueError:
                raise ValueError("a hash must be hex digits") from None
            return self._bits(raw)
        if isinstance(value, bytes | bytearray):
            if len(value) * 8 != self.dim:
                raise ValueError(f"a hash of {len(value) * 8} bits, {self.base_name} holds {self.dim}")
            return np.unpackbits(np.frombuffer(bytes(value), dtype=np.uint8))
        arr = np.asarray(value, dtype=np.float32).reshape(-1)
        if arr.shape[0] != self.dim:
            raise ValueError(f"a hash of {arr.shape[0]} bits, {self.base_name} holds {self.dim}")
        return (arr > 0).astype(np.uint8)

    def _encode(self, vector: HashValue) -> bytes | list[float]:
        bits = self._bits(vector)
        if self.binary:
            return np.packbits(bits).tobytes()
        return (bits.astype(np.float32) * 2.0 - 1.0).tolist()

    def _distance(self, raw: float) -> int:
        return round(raw) if self.binary else round((self.dim - raw) / 2)

    # -- reads

    def nearest_many(
        self,
        hashes: Sequence[HashValue],
        limit: int,
        max_distance: int,
        filter: SearchFilter | None = None,
    ) -> list[list[HashHit]]:
        """For each hash, its ``limit`` nearest stored hashes within ``max_distance`` bits, nearest
        first (a top-k search: Milvus Lite answers range searches by scanning, 25x slower). Sees
        every write made before it."""
        limit, max_distance = _as_int("limit", limit), _as_int("max_distance", max_distance)
        data = [self._encode(h) for h in hashes]
        if limit <= 0 or not data:
            return [[] for _ in data]
        if self.binary:
            params: dict[str, Any] = {"metric_type": "HAMMING", "params": {}}
        else:
            ef = max(int(settings.HNSW_EF), min(limit, _MAX_EF))
            params = {"metric_type": "IP", "params": {"ef": ef}}
        raw = self._search(data, limit, filter, params, consistency=_STRONG)
        found = [[HashHit(int(h["id"]), self._distance(float(h["distance"]))) for h in hits] for hits in raw]
        return [[h for h in hits if h.distance <= max_distance] for hits in found]


def ping(uri: str | None = None, token: str | None = None) -> None:
    """Raise VectorStoreError unless Milvus answers within a few seconds (used by /healthz)."""
    key = _resolve(uri, token)
    try:
        get_client(*key).list_collections(timeout=_PING_TIMEOUT)
    except VectorStoreError:
        raise
    except Exception as exc:
        _drop_client(key)
        raise VectorStoreError(f"Milvus is unreachable at {key[0]}: {_describe(exc)}") from exc
