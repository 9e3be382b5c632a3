"""Live figures against running `make run` stacks: uploads through gunicorn one image per request
until indexed, HTTP text searches beside the bare cost of one (the query worker's text encoding and
the Milvus search), searches while uploads are being indexed, the OCR lag, and each thread setting's
text-encoding latency and indexing rate.

Runs in a child of `manage.py bench` whose DATA_DIR is the default stack's, so its database,
Redis and Milvus are that stack's (the corpus is written there; OCR times are read there). The
other stacks (the thread sweep) are reached by HTTP and by their Redis only.

Compared things are measured alternately, round after round, and reported as medians: this
machine's speed swings several times over within minutes.
"""

from __future__ import annotations

import secrets
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import numpy as np
import requests
from celery import Celery
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from ingestion.models import Image, Tag
from ingestion.processing import prepare
from search import index
from search.engines.encoder import load_encoder
from search.engines.vector_store import SearchFilter
from search.models import HashVariant, OcrRun
from search.query.queries import embed_texts
from search.query.service import SearchParams, _window
from search.variants import PLAIN
from search.vectors import store as store_vectors

from . import stacks as bench_stacks
from .corpus import WORDS, query_texts, synthetic_photo

UPLOADERS = 4  # browsers' upload pages send a few files at once
SEARCH_LIMIT = 50
_PAUSE = 0.05  # between a prober's requests: a person searching, not a load test


def percentiles(samples: list[float]) -> dict[str, float]:
    ms = [1000 * s for s in samples]
    return {
        "p50": round(float(np.percentile(ms, 50)), 2),
        "p95": round(float(np.percentile(ms, 95)), 2),
        "p99": round(float(np.percentile(ms, 99)), 2),
        "n": len(ms),
    }


class Client:
    """One stack seen from outside: its API over HTTP (keep-alive), its query worker over its Redis."""

    def __init__(self, stack: dict) -> None:
        self.stack = stack
        self.url = stack["url"]
        self._local = threading.local()
        answer = requests.post(
            f"{self.url}/api/auth/token/",
            json={"username": stack["username"], "password": stack["password"]},
            timeout=30,
        )
        answer.raise_for_status()
        self.headers = {"Authorization": f"Token {answer.json()['token']}"}
        self.celery = Celery(broker=stack["redis_url"], backend=stack["redis_url"])

    @property
    def http(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.headers.update(self.headers)
        return session

    def upload(self, data: bytes, name: str) -> int:
        answer = self.http.post(
            f"{self.url}/api/images/", files={"file": (name, data, "image/jpeg")}, timeout=120
        )
        if answer.status_code != 201:
            raise RuntimeError(f"upload refused: {answer.status_code} {answer.text[:300]}")
        return int(answer.json()["id"])

    def search(self, text: str) -> float:
        started = time.perf_counter()
        answer = self.http.get(
            f"{self.url}/api/search/", params={"q": text, "limit": SEARCH_LIMIT}, timeout=60
        )
        elapsed = time.perf_counter() - started
        if answer.status_code != 200:
            raise RuntimeError(f"search failed: {answer.status_code} {answer.text[:300]}")
        return elapsed

    def encode(self, text: str) -> float:
        """The query worker's text encoding as the web server asks for it (a Celery round trip)."""
        started = time.perf_counter()
        result = self.celery.send_task(
            "search.tasks.embed_texts", args=[[text]], queue=settings.QUERY_QUEUE, expires=30
        )
        answer = result.get(timeout=30)
        elapsed = time.perf_counter() - started
        result.forget()
        if "error" in answer:
            raise RuntimeError(f"text encoding failed: {answer['error']}")
        return elapsed

    def statuses(self, ids: list[int]) -> dict[int, dict]:
        found: dict[int, dict] = {}
        for start in range(0, len(ids), 50):
            chunk = ids[start : start + 50]
            answer = self.http.get(
                f"{self.url}/api/images/",
                params={"ids": ",".join(map(str, chunk)), "page_size": 50},
                timeout=60,
            )
            answer.raise_for_status()
            found.update({int(r["id"]): r for r in answer.json()["results"]})
        return found


class Prober:
    """While a burst is indexed: a search on the stack indexing it, then a text encoding by each
    stack's query worker in turn, timed. Every thread setting is so measured under the same load,
    at the same moments, whichever stack the burst goes to."""

    def __init__(self, client: Client, encoders: list[Client], texts: list[str]) -> None:
        self.client, self.encoders, self.texts = client, encoders, texts
        self.searches: list[float] = []
        self.encodes: dict[str, list[float]] = {c.stack["name"]: [] for c in encoders}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        i = 0
        while not self._stop.is_set():
            text = self.texts[i % len(self.texts)]
            self.searches.append(self.client.search(text))
            # Which stack goes first rotates, so none always follows the search.
            for k in range(len(self.encoders)):
                encoder = self.encoders[(i + k) % len(self.encoders)]
                self.encodes[encoder.stack["name"]].append(encoder.encode(text))
            i += 1
            self._stop.wait(_PAUSE)

    def __enter__(self) -> Prober:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _moment(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def burst(
    client: Client, photos: list[bytes], texts: list[str], encoders: list[Client], timeout: float = 600
) -> dict:
    """Upload `photos` one per request (UPLOADERS at a time) and wait until all are indexed; the
    rate counts from the first request to the last `indexed_at`."""
    started = time.time()
    with Prober(client, encoders, texts) as prober:
        with ThreadPoolExecutor(UPLOADERS) as pool:
            ids = list(pool.map(lambda p: client.upload(p[1], f"burst-{p[0]}.jpg"), enumerate(photos)))
        deadline = time.monotonic() + timeout
        while True:
            rows = client.statuses(ids)
            if all(r["status"] != "pending" for r in rows.values()) and len(rows) == len(ids):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{sum(r['status'] == 'pending' for r in rows.values())} uploads still pending"
                )
            time.sleep(0.2)
    failed = [i for i, r in rows.items() if r["status"] != "indexed"]
    if failed:
        raise RuntimeError(f"uploads failed to index: {[rows[i]['failure_reason'] for i in failed][:3]}")
    indexed = {i: _moment(r["indexed_at"]) for i, r in rows.items()}
    seconds = max(indexed.values()) - started
    return {
        "ids": ids,
        "indexed_at": indexed,
        "seconds": seconds,
        "rate": len(ids) / seconds,
        "searches": prober.searches,
        "encodes": prober.encodes,
    }


def ocr_lags(ids: list[int], indexed_at: dict[int, float], timeout: float = 300) -> list[float]:
    """Seconds from indexed to read, for each image (this process's database is the stack's)."""
    deadline = time.monotonic() + timeout
    while OcrRun.objects.filter(image_id__in=ids).count() < len(ids) and time.monotonic() < deadline:
        time.sleep(0.5)
    done = dict(OcrRun.objects.filter(image_id__in=ids).values_list("image_id", "done_at"))
    return [done[i].timestamp() - indexed_at[i] for i in ids if i in done]


def seed_corpus(owner, count: int) -> None:
    """`count` indexed images in this stack's database and Milvus: vectors of the configured model
    (encoded photos, jittered), titles, tags and OCR text from WORDS, as search reads them."""
    if count <= 0:
        return
    encoder = load_encoder()
    base = encoder.encode_images([prepare(synthetic_photo(i)).image for i in range(32)])
    rng = np.random.default_rng(1)
    tags = [Tag.objects.get_or_create(name=w)[0] for w in WORDS[:12]]
    now = timezone.now()
    rows, texts, unit_vectors = [], [], []
    for i in range(count):
        vector = base[i % len(base)] + rng.normal(0, 0.05, base.shape[1]).astype(np.float32)
        words = lambda n: " ".join(WORDS[j] for j in rng.integers(0, len(WORDS), n))  # noqa: E731
        title = words(3) if i % 2 else ""
        texts.append(words(6) if i % 3 == 0 else "")  # the words read, kept in the image's OcrRun
        image = Image(
            owner=owner,
            title=title,
            original=f"bench/{i}.jpg",
            thumbnail=f"bench/{i}.webp",
            original_filename=f"IMG_{i:05d}.jpg",
            format="JPEG",
            size_bytes=1,
            width=1024,
            height=768,
            sha256=secrets.token_hex(32),
            status=Image.Status.INDEXED,
            created_at=now,
            indexed_at=now,
        )
        unit_vectors.append(vector / np.linalg.norm(vector))
        rows.append(image)
    created = Image.objects.bulk_create(rows, batch_size=500)
    # Random plain hashes, so no two collapse; but compared, as real images' hashes are.
    HashVariant.objects.bulk_create(
        [HashVariant(image=i, kind=PLAIN, pdq_hash=secrets.token_hex(32), quality=100) for i in created],
        batch_size=1000,
    )
    read = [OcrRun(image=image, text=text) for image, text in zip(created, texts, strict=True) if text]
    OcrRun.objects.bulk_create(read, batch_size=500)
    pairs = list(zip(created, unit_vectors, strict=True))
    store_vectors(encoder.model_id, {image.pk: vector for image, vector in pairs})
    through = Image.tags.through
    through.objects.bulk_create(
        [through(image_id=image.pk, tag_id=tags[k % len(tags)].pk) for k, image in enumerate(created)],
        batch_size=1000,
    )
    store = index.embedding_store(encoder.model_id, encoder.dim)
    for start in range(0, len(created), 1000):
        store.upsert([index.image_row(i, v) for i, v in pairs[start : start + 1000]])
    store.flush()


def bare_query(user, model_dim: tuple[str, int]) -> Callable[[str], float]:
    """What a text search cannot do without: the query worker's encoding of the words (the same
    Celery round trip the web server makes) and the Milvus search the page needs (same filter, same
    number of candidates). Everything else a search does is the overhead the ratio measures."""
    store = index.embedding_store(*model_dim)
    flt = SearchFilter(viewer_id=user.pk)
    window = _window(SearchParams(limit=SEARCH_LIMIT))

    def run(text: str) -> float:
        started = time.perf_counter()
        vector = embed_texts([text])[0]
        store.search(vector.vector, limit=window, filter=flt)
        return time.perf_counter() - started

    return run


def run(stacks: list[dict], opts: dict, pipeline_round: Callable[[int], dict]) -> dict:
    """`stacks[0]` is the default stack (this process's own); the others differ by thread setting."""
    user = get_user_model().objects.get(username=stacks[0]["username"])
    corpus_owner = get_user_model().objects.create_user(f"bench-corpus-{secrets.token_hex(3)}")
    started = time.perf_counter()
    seed_corpus(corpus_owner, opts["corpus"])
    seeded_s = time.perf_counter() - started
    clients = [Client(s) for s in stacks]
    default = clients[0]
    texts = query_texts(max(opts["queries"], 20))
    # The query worker's model and dimension, from one real answer.
    probe = embed_texts(["warm up"])[0]
    bare = bare_query(user, (probe.model_id, probe.dim))
    for text in texts[:10]:  # warm-up: connections, caches, the HNSW index built after the flush
        default.search(text)
        bare(text)

    def all_pids() -> list[int]:
        return [pid for s in stacks for pid in bench_stacks.tree(s["pid"])]

    bench_stacks.wait_quiet(all_pids)
    live: dict[str, list[float]] = {s["name"]: [] for s in stacks}
    busy_encodes: dict[str, list[float]] = {s["name"]: [] for s in stacks}
    busy_searches: list[float] = []
    idle_searches: list[float] = []
    bare_times: list[float] = []
    pipeline_rates: list[float] = []
    lags: list[float] = []
    burst_seconds: list[float] = []
    pairs: list[float] = []  # per round: live / pipeline, measured back to back
    seed = 0
    for r in range(opts["rounds"]):
        # Which stack goes first rotates, so none always meets a machine warmed or tired by another.
        order = clients[r % len(clients) :] + clients[: r % len(clients)]
        for client in order:
            seed += 1
            photos = [synthetic_photo(10_000_000 + seed * 1000 + i) for i in range(opts["burst"])]
            result = burst(client, photos, texts, clients)
            name = client.stack["name"]
            live[name].append(result["rate"])
            for encoded, times in result["encodes"].items():
                busy_encodes[encoded] += times
            if client is default:
                busy_searches += result["searches"]
                burst_seconds.append(result["seconds"])
                lags += ocr_lags(result["ids"], result["indexed_at"])
            bench_stacks.wait_quiet(all_pids)
        pipeline = pipeline_round(r)["pipeline_images_per_s"]
        pipeline_rates.append(pipeline)
        pairs.append(live[stacks[0]["name"]][-1] / pipeline)
        bench_stacks.wait_quiet(all_pids)
        # Idle: an HTTP search and the bare cost, alternately (which goes first alternates too).
        for i in range(opts["queries"]):
            text = texts[i % len(texts)]
            if i % 2:
                idle_searches.append(default.search(text))
                bare_times.append(bare(text))
            else:
                bare_times.append(bare(text))
                idle_searches.append(default.search(text))
    idle, busy, bare_ms = percentiles(idle_searches), percentiles(busy_searches), percentiles(bare_times)
    encode_p50 = {name: percentiles(times)["p50"] for name, times in busy_encodes.items()}
    live_rate = {name: statistics.median(rates) for name, rates in live.items()}
    return {
        "corpus_images": opts["corpus"],
        "corpus_seed_s": round(seeded_s, 1),
        "burst_images": opts["burst"],
        "rounds": opts["rounds"],
        "live_images_per_s": live_rate[stacks[0]["name"]],
        "live_rounds": live[stacks[0]["name"]],
        "pipeline_images_per_s": statistics.median(pipeline_rates),
        "pipeline_rounds": pipeline_rates,
        "live_vs_pipeline_ratio": statistics.median(pairs),
        "text_search_ms": idle,
        "bare_query_ms": bare_ms,
        "query_p50_vs_bare_ratio": idle["p50"] / bare_ms["p50"],
        "text_search_under_ingest_ms": busy,
        "query_p95_under_ingest_vs_idle_ratio": busy["p95"] / idle["p95"],
        "ocr_lag_s": round(float(np.percentile(lags, 95)), 2) if lags else None,  # p95
        "ocr_lag": {
            "p50": round(float(np.percentile(lags, 50)), 2) if lags else None,
            "p95": round(float(np.percentile(lags, 95)), 2) if lags else None,
            "n": len(lags),
        },
        "burst_indexing_s": statistics.median(burst_seconds),
        "ocr_lag_p95_vs_burst_ratio": (float(np.percentile(lags, 95)) / statistics.median(burst_seconds))
        if lags
        else None,
        # What the default stack's workers resolved (this process has its environment).
        "default_threads": {
            "TORCH_NUM_THREADS": settings.TORCH_NUM_THREADS,
            "QUERY_TORCH_THREADS": settings.QUERY_TORCH_THREADS,
        },
        "threads": {
            s["name"]: {
                "torch_threads": s["torch_threads"],
                "text_encode_under_ingest_p50_ms": encode_p50[s["name"]],
                "live_images_per_s": live_rate[s["name"]],
                "live_rounds": live[s["name"]],
            }
            for s in stacks
        },
    }
