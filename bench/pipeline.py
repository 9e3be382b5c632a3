"""The encoder bound and the ingest pipeline, measured alternately in one process.

- encoder: the forward pass alone (`encode_image_inputs` over inputs made beforehand), in batches of
  ENCODE_BATCH_SIZE: the most the model lets a worker index on this machine.
- pipeline: the ingest worker's own code (`search.pipeline.indexing`: decode, WebP sizes, PDQ hashes and
  variants, model inputs, forward pass, database rows, ban screening, Milvus write, duplicate
  checks) over stored originals, in INGEST_BATCH_SIZE batches with the next batch prepared during
  this one's forward pass, as the worker drains its queue. What it leaves out, against a live run:
  HTTP uploads, Celery, and OCR.

Run in a child process of `manage.py bench` with a throw-away DATA_DIR (its own SQLite database,
media and Milvus Lite); rows are created without announcing them, so no task reaches any Redis.
"""

from __future__ import annotations

import io
import secrets
import statistics
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from PIL import Image as PILImage

from ingestion.intake import Intake, Source
from ingestion.services import create_image
from search.engines.encoder import load_encoder
from search.pipeline import indexing

from .corpus import synthetic_photo


def decode(data: bytes) -> PILImage.Image:
    return PILImage.open(io.BytesIO(data)).convert("RGB")


def _store(owner, photos: list[bytes]) -> list[int]:
    """Pending rows with their originals stored, as an upload leaves them (not announced)."""
    intakes = [
        Intake(owner=owner, data=p, source=Source.SCRIPT, filename="bench.jpg", allow_duplicate=True)
        for p in photos
    ]
    return [create_image(intake, announce=False).pk for intake in intakes]


def _index(encoder, ids: list[int]) -> None:
    """The worker's drain: INGEST_BATCH_SIZE at a time, the next batch prepared meanwhile."""
    size = settings.INGEST_BATCH_SIZE
    batches = [ids[i : i + size] for i in range(0, len(ids), size)]
    stream = getattr(indexing, "index_stream", None)
    if stream is None:  # an engine without prefetch: batch after batch
        for batch in batches:
            indexing.index_images(batch, encoder=encoder)
        return
    pending = iter(batches[1:])
    stream(batches[0], lambda: next(pending, []), encoder=encoder)


def run(rounds: int, images: int, seed: int = 0, encoder_bound: bool = True) -> dict:
    """`rounds` alternations of the two (which goes first alternates too); medians of the rates."""
    call_command("migrate", verbosity=0)
    owner = get_user_model().objects.create_user(f"bench-{secrets.token_hex(4)}")
    encoder = load_encoder()
    # A warm-up batch through both paths (first forward passes, Milvus collection, caches).
    warm = [synthetic_photo(seed * 100_000 + 99_000 + i) for i in range(min(images, 8))]
    _index(encoder, _store(owner, warm))
    encoder_rates: list[float] = []
    pipeline_rates: list[float] = []
    for r in range(rounds):
        photos = [synthetic_photo(seed * 100_000 + r * 1000 + i) for i in range(images)]
        ids = _store(owner, photos)
        # The model inputs made beforehand: what the forward pass alone is timed on.
        inputs = [encoder.image_inputs(decode(p)) for p in photos] if encoder_bound else []

        def forward(inputs=inputs) -> None:
            started = time.perf_counter()
            encoder.encode_image_inputs(inputs)
            encoder_rates.append(len(inputs) / (time.perf_counter() - started))

        def pipeline(ids=ids) -> None:
            started = time.perf_counter()
            _index(encoder, ids)
            pipeline_rates.append(len(ids) / (time.perf_counter() - started))

        order = [forward, pipeline] if r % 2 == 0 else [pipeline, forward]
        for step in order:
            if step is forward and not encoder_bound:
                continue
            step()
    out = {
        "model": encoder.model_id,
        "images_per_round": images,
        "torch_threads": settings.TORCH_NUM_THREADS,  # as the ingest worker runs it by default
        "rounds": rounds,
        "pipeline_images_per_s": statistics.median(pipeline_rates),
        "pipeline_rounds": pipeline_rates,
    }
    if encoder_bound:
        out.update(
            encoder_images_per_s=statistics.median(encoder_rates),
            encoder_rounds=encoder_rates,
            # Per round (each pair measured back to back), then the median.
            ratio=statistics.median(p / e for p, e in zip(pipeline_rates, encoder_rates, strict=True)),
        )
    return out
