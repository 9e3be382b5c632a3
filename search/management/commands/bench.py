"""Throughput and latency of the parts that must be fast, measured in one run on this machine.

Everything runs in this process against a throw-away Milvus Lite database, so the figures are
comparable as ratios within one run; absolute numbers depend on the (shared, noisy) machine.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand
from PIL import Image as PILImage
from PIL import ImageDraw

from ingestion.processing import prepare
from ingestion.validation import validate_image_bytes
from search.encoder import load_encoder
from search.vector_store import SearchFilter, VectorRow, VectorStore, close_client


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

        if opts["json"]:
            self.stdout.write(json.dumps(results, indent=2))
            return
        width = max(len(k) for k in results)
        for key, value in results.items():
            shown = f"{value:,.2f}" if isinstance(value, float) else str(value)
            self.stdout.write(f"{key.ljust(width)}  {shown}")
