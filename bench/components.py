"""Throughput and latency of the parts, each alone, in one process: validation, preparation, the
encoder, text encoding, Milvus writes and searches (and HNSW recall against exact search), OCR, the
in-process hybrid search at 10,000 images, and the duplicate rescan at 10,000 images.

Run in a child of `manage.py bench` with a throw-away DATA_DIR: its own database, media and
Milvus Lite."""

from __future__ import annotations

import io
import json
import statistics
import tempfile
import time
from io import StringIO
from pathlib import Path

import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone
from PIL import Image as PILImage

from ingestion.models import Image
from ingestion.processing import prepare
from ingestion.validation import validate_image_bytes
from search import index
from search.engines import ocr
from search.engines.encoder import load_encoder
from search.engines.vector_store import SearchFilter, VectorRow, VectorStore, close_client
from search.models import OcrRun
from search.query.queries import QueryVector, weighted
from search.query.query_language import parse
from search.query.service import SearchParams, search
from search.vectors import store as store_vectors

from .corpus import WORDS, drawn_sign, synthetic_photo


def timed(fn, repeat: int = 1) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def settle(store, queries, timeout: float = 60) -> float:
    """Milvus Lite builds the HNSW index in the background after a flush (searching by brute force
    meanwhile) and reports it finished at once; wait until search latency stops falling."""
    start = time.perf_counter()
    previous = float("inf")
    while time.perf_counter() - start < timeout:
        current = statistics.median(timed(lambda: [store.search(q, limit=10) for q in queries], 3))
        if current > 0.9 * previous:
            break
        previous = current
        time.sleep(1)
    return time.perf_counter() - start


def run(opts: dict) -> dict:
    results: dict[str, float | str | int] = {}
    encoder = load_encoder()
    results.update(model=encoder.model_id, device=encoder.device, dim=encoder.dim)
    photos = [synthetic_photo(i) for i in range(min(opts["images"], 64))]
    photos = (photos * (opts["images"] // len(photos) + 1))[: opts["images"]]

    t = timed(lambda: [validate_image_bytes(p) for p in photos[:64]])[0]
    results["validate_ms_per_image"] = 1000 * t / min(64, len(photos))
    prepared = []
    t = timed(lambda: prepared.extend(prepare(p) for p in photos[:64]))[0]
    results["prepare_ms_per_image"] = 1000 * t / len(prepared)

    images = [prepared[i % len(prepared)].image for i in range(len(photos))]
    encoder.encode_images(images[: settings.ENCODE_BATCH_SIZE])  # warm-up
    t = timed(lambda: encoder.encode_images(images))[0]
    results["encode_images_per_s"] = len(images) / t

    texts = [f"a photo of a {w}" for w in ("cat", "red bicycle leaning on a wall", "beach at night")]
    encoder.encode_texts(texts)
    lat = timed(lambda: encoder.encode_texts([texts[1]]), repeat=30)
    results["encode_text_ms_p50"] = 1000 * statistics.median(lat)

    # Search: the corpus is real encoder output (the images above, plus small pixel jitter so
    # vectors are distinct), never random vectors.
    n = opts["vectors"]
    base = encoder.encode_images(images[:64])
    rng = np.random.default_rng(0)
    jitter = []
    for i in range(n):
        v = base[i % len(base)] + rng.normal(0, 0.05, base.shape[1]).astype(np.float32)
        jitter.append(v / np.linalg.norm(v))
    corpus = np.stack(jitter).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        store = VectorStore("bench", encoder.dim, uri=str(Path(tmp) / "bench.db"))
        store.ensure_collection()
        rows = [VectorRow(i, corpus[i], i % 10, i % 3 != 0, 1_700_000_000 + i) for i in range(n)]

        def insert():
            for start in range(0, n, 1000):
                store.upsert(rows[start : start + 1000])
            store.flush()

        t = timed(insert)[0]
        results["milvus_upsert_vectors_per_s"] = n / t
        queries = [corpus[i] for i in rng.integers(0, n, opts["queries"])]
        results["index_settle_s"] = settle(store, queries[:20])
        lat = [timed(lambda q=q: store.search(q, limit=10))[0] for q in queries]
        results["search_top10_ms_p50"] = 1000 * statistics.median(lat)
        results["search_top10_ms_p95"] = 1000 * float(np.percentile(lat, 95))
        flt = SearchFilter(viewer_id=3)
        lat = [timed(lambda q=q: store.search(q, limit=10, filter=flt))[0] for q in queries]
        results["search_top10_filtered_ms_p50"] = 1000 * statistics.median(lat)
        exact = corpus @ corpus[:50].T
        recall = []
        for j in range(50):
            truth = set(np.argsort(-exact[:, j])[:10].tolist())
            got = {h.id for h in store.search(corpus[j], limit=10)}
            recall.append(len(truth & got) / 10)
        results["ann_recall_at_10"] = float(np.mean(recall))
        results["vectors"] = n
        close_client(store.uri)  # stops the throw-away in-process Milvus before its folder goes

    if opts["ocr_images"]:
        results.update(bench_ocr(opts["ocr_images"]))
    if opts["hybrid_images"]:
        results.update(bench_hybrid(encoder, opts["hybrid_images"], opts["queries"]))

    if opts["duplicates"]:
        results["duplicate_scan_s"] = duplicate_scan(opts["duplicates"])
        results["duplicate_scan_images"] = opts["duplicates"]
    return results


def duplicate_scan(images: int) -> float:
    """The moderation rescan (`find_duplicates`) over `images` images with their hashes, as
    `manage.py bench_duplicates --scale` times it (its rows rolled back, its Milvus thrown away)."""
    out = StringIO()
    call_command("bench_duplicates", originals=0, scale=str(images), json=True, stdout=out)
    return float(json.loads(out.getvalue())["scale"][0]["find_duplicates_scan_s"])


def bench_ocr(count: int) -> dict[str, float]:
    """Milliseconds per image read at the worker's working size: with words on it, and without."""
    signs = [drawn_sign(i) for i in range(count)]
    photos = [PILImage.open(io.BytesIO(synthetic_photo(100 + i))).convert("RGB") for i in range(count)]
    ocr.read_text(signs[0], settings.OCR_MAX_SIDE)  # loads the models
    with_text = [ocr.read_text(s, settings.OCR_MAX_SIDE) for s in signs]
    without = [ocr.read_text(p, settings.OCR_MAX_SIDE) for p in photos]
    return {
        "ocr_ms_per_image_with_text_p50": float(statistics.median(r.millis for r in with_text)),
        "ocr_ms_per_image_with_text_max": float(max(r.millis for r in with_text)),
        "ocr_ms_per_image_without_text_p50": float(statistics.median(r.millis for r in without)),
        "ocr_lines_found_per_sign": float(statistics.mean(len(r.text.splitlines()) for r in with_text)),
    }


class _Rollback(Exception):
    pass


def bench_hybrid(encoder, count: int, n_queries: int) -> dict[str, float]:
    """The whole search path of a hybrid query (keyword side in the database, vector side in Milvus,
    fusion, collapsing, hydration of one page) at `count` images. The rows are written inside a
    transaction that is rolled back, and the vectors go to a throw-away Milvus Lite; the query is
    embedded in this process (the query worker's round trip is not part of it)."""
    call_command("migrate", verbosity=0)
    rng = np.random.default_rng(1)
    photos = [prepare(synthetic_photo(i)).image for i in range(32)]
    base = encoder.encode_images(photos)
    out: dict[str, float] = {}
    uri_before = settings.MILVUS_URI
    with tempfile.TemporaryDirectory() as tmp:
        settings.MILVUS_URI = str(Path(tmp) / "hybrid.db")
        index.forget_collections()
        try:
            with transaction.atomic():
                out = _hybrid_in_transaction(encoder, base, rng, count, n_queries)
                raise _Rollback
        except _Rollback:
            pass
        finally:
            index.forget_collections()
            close_client(settings.MILVUS_URI)
            settings.MILVUS_URI = uri_before
    return out


def _hybrid_in_transaction(encoder, base, rng, count: int, n_queries: int) -> dict[str, float]:
    user = get_user_model().objects.create(username=f"bench-{time.time_ns()}")
    now = timezone.now()
    rows, texts, unit_vectors = [], [], []
    for i in range(count):
        vector = base[i % len(base)] + rng.normal(0, 0.05, base.shape[1]).astype(np.float32)
        words = " ".join(WORDS[j] for j in rng.integers(0, len(WORDS), 3))
        # The words read, kept in the image's OcrRun.
        texts.append(" ".join(WORDS[j] for j in rng.integers(0, len(WORDS), 6)) if i % 3 == 0 else "")
        image = Image(
            owner=user,
            title=words if i % 2 else "",
            original=f"bench/{i}.jpg",
            original_filename=f"IMG_{i:05d}.jpg",
            format="JPEG",
            size_bytes=1,
            width=1024,
            height=768,
            sha256=f"{i:064x}",
            status=Image.Status.INDEXED,
            created_at=now,
        )
        unit_vectors.append(vector / np.linalg.norm(vector))
        rows.append(image)
    started = time.perf_counter()
    created = Image.objects.bulk_create(rows, batch_size=500)
    read = [OcrRun(image=image, text=text) for image, text in zip(created, texts, strict=True) if text]
    OcrRun.objects.bulk_create(read, batch_size=500)
    pairs = list(zip(created, unit_vectors, strict=True))
    store_vectors(encoder.model_id, {image.pk: vector for image, vector in pairs})
    insert_s = time.perf_counter() - started
    store = index.embedding_store(encoder.model_id, encoder.dim)
    for start in range(0, len(created), 1000):
        store.upsert([index.image_row(i, v) for i, v in pairs[start : start + 1000]])
    store.flush()

    texts = [
        " ".join(WORDS[j] for j in rng.integers(0, len(WORDS), int(rng.integers(1, 3))))
        for _ in range(n_queries)
    ]
    vectors = dict(zip(texts, encoder.encode_texts(texts), strict=True))

    def embed(query, viewer, example):
        return weighted(
            [(t.signed_weight, QueryVector(encoder.model_id, vectors[t.text])) for t in query.text_terms]
        )

    queries = [parse(text) for text in texts]
    settle(store, [vectors[t] for t in texts[:20]])
    params = SearchParams(limit=50)
    for query in queries[:10]:
        search(query, user, params, embed=embed)  # warm-up
    lat = [timed(lambda q=q: search(q, user, params, embed=embed))[0] for q in queries]
    text_lat = [timed(lambda q=q: search(q, user, SearchParams(limit=50, mode="text")))[0] for q in queries]
    return {
        "hybrid_images": count,
        "hybrid_rows_insert_s": insert_s,
        "hybrid_search_ms_p50": 1000 * statistics.median(lat),
        "hybrid_search_ms_p95": 1000 * float(np.percentile(lat, 95)),
        "keyword_search_ms_p95": 1000 * float(np.percentile(text_lat, 95)),
    }
