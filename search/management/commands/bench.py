"""Throughput and latency of the parts that must be fast, measured in one run on this machine.

Everything runs in this process against a throw-away Milvus Lite database, so the figures are
comparable as ratios within one run; absolute numbers depend on the (shared, noisy) machine.
"""

from __future__ import annotations

import io
import json
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone
from PIL import Image as PILImage
from PIL import ImageDraw, ImageFont

from ingestion.models import Image
from ingestion.processing import prepare
from ingestion.validation import validate_image_bytes
from search import index, ocr
from search.encoder import load_encoder
from search.queries import QueryVector, weighted
from search.query_language import parse
from search.service import SearchParams, search
from search.vector_store import SearchFilter, VectorRow, VectorStore, close_client

CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
WORDS = [
    "harbour",
    "street",
    "bakery",
    "lake",
    "sunset",
    "beach",
    "mountain",
    "river",
    "city",
    "night",
    "market",
    "bicycle",
    "garden",
    "train",
    "station",
    "bridge",
    "winter",
    "snow",
    "festival",
    "coffee",
    "noodle",
    "temple",
    "museum",
    "library",
    "park",
    "西湖",
    "面条",
    "杭州",
    "上海",
    "北京",
    "欢迎",
    "光临",
    "今日",
    "特价",
    "牛肉",
]


def drawn_sign(seed: int) -> PILImage.Image:
    """A photo-sized picture with two lines of words on it (Chinese needs the CJK font)."""
    rng = np.random.default_rng(seed)
    image = PILImage.open(io.BytesIO(synthetic_photo(seed))).convert("RGB")
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(str(CJK_FONT), 56) if CJK_FONT.exists() else ImageFont.load_default(56)
    draw.rectangle((40, 40, 980, 260), fill=(250, 250, 240))
    for row in range(2):
        words = [WORDS[i] for i in rng.integers(0, len(WORDS) if CJK_FONT.exists() else 25, 3)]
        draw.text((60, 60 + row * 100), " ".join(words), font=font, fill=(20, 20, 20))
    return image


def synthetic_photo(seed: int, size=(1024, 768)) -> bytes:
    """A JPEG with random shapes: decode/resize cost like a real photo upload."""
    rng = np.random.default_rng(seed)
    image = PILImage.new("RGB", size, tuple(int(c) for c in rng.integers(0, 255, 3)))
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x0, y0 = rng.integers(0, size[0]), rng.integers(0, size[1])
        x1, y1 = x0 + rng.integers(20, 400), y0 + rng.integers(20, 300)
        fill = tuple(int(c) for c in rng.integers(0, 255, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=fill)
    out = __import__("io").BytesIO()
    image.save(out, format="JPEG", quality=90)
    return out.getvalue()


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


class Command(BaseCommand):
    help = "Measure encode throughput, per-image preparation, text latency and vector search latency."

    def add_arguments(self, parser):
        parser.add_argument("--images", type=int, default=256, help="images to encode")
        parser.add_argument("--vectors", type=int, default=20000, help="vectors in the search bench")
        parser.add_argument("--queries", type=int, default=200)
        parser.add_argument("--ocr-images", type=int, default=12, help="images to read (OCR)")
        parser.add_argument(
            "--hybrid-images",
            type=int,
            default=10000,
            help="image rows for the hybrid search bench (in a transaction that is rolled back)",
        )
        parser.add_argument("--json", action="store_true", help="print the results as JSON")

    def handle(self, *args, **opts):
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

        def pipeline():
            # What the ingest worker does per batch, without the database and Milvus writes.
            with ThreadPoolExecutor(settings.PREPARE_THREADS) as pool:
                preps = list(pool.map(lambda data: prepare(data, encoder.image_inputs), photos))
            encoder.encode_image_inputs([p.model_inputs for p in preps])

        t = timed(pipeline)[0]
        results["ingest_pipeline_images_per_s"] = len(photos) / t

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
            results["search_recall_at_10"] = float(np.mean(recall))
            results["vectors"] = n
            close_client(store.uri)  # stops the throw-away in-process Milvus before its folder goes

        if opts["ocr_images"]:
            results.update(bench_ocr(opts["ocr_images"]))
        if opts["hybrid_images"]:
            results.update(bench_hybrid(encoder, opts["hybrid_images"], opts["queries"]))

        if opts["json"]:
            self.stdout.write(json.dumps(results, indent=2))
            return
        width = max(len(k) for k in results)
        for key, value in results.items():
            shown = f"{value:,.2f}" if isinstance(value, float) else str(value)
            self.stdout.write(f"{key.ljust(width)}  {shown}")


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
    rows = []
    for i in range(count):
        vector = base[i % len(base)] + rng.normal(0, 0.05, base.shape[1]).astype(np.float32)
        words = " ".join(WORDS[j] for j in rng.integers(0, len(WORDS), 3))
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
            ocr_text=" ".join(WORDS[j] for j in rng.integers(0, len(WORDS), 6)) if i % 3 == 0 else "",
            created_at=now,
        )
        image.set_embedding(vector / np.linalg.norm(vector), encoder.model_id)
        rows.append(image)
    started = time.perf_counter()
    created = Image.objects.bulk_create(rows, batch_size=500)
    insert_s = time.perf_counter() - started
    store = index.embedding_store(encoder.model_id, encoder.dim)
    for start in range(0, len(created), 1000):
        store.upsert([index.image_row(img, img.embedding_vector()) for img in created[start : start + 1000]])
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
