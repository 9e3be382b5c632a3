"""What `make run` starts beside the web server, sized from the cores this process may use.

Three workers, so that no kind of work waits behind another: `ingest` (indexing, one process: its
torch threads do the parallel work), `query` (search embeddings; a thread pool, each request on
one torch thread) and `ocr` (words in images; its onnxruntime threads, OCR_THREADS, do the parallel
work). Threads inside each process are Django settings (TORCH_NUM_THREADS, QUERY_TORCH_THREADS,
OCR_THREADS, PREPARE_THREADS); how many requests or processes each worker runs at once is chosen
here, because it is a command-line option of the worker: QUERY_CONCURRENCY and OCR_WORKERS.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

INGEST_NICE = 5
OCR_NICE = 10


@dataclass(frozen=True)
class WorkerPlan:
    name: str  # the service and the Celery node name (`name@%h`)
    queues: str  # comma-separated, as `celery worker -Q` takes them
    concurrency: int = 1
    pool: str = "solo"  # solo: one task at a time in the main thread; threads; prefork (processes)
    # CPU priority (Unix niceness): a person waiting on a search comes before a batch of uploads,
    # and the upload before the words read in it; idle cores still go to the background work.
    nice: int = 0


def available_cores() -> int:
    """The cores this process may run on (a container or `taskset` limits them), not the machine's."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def count_from(env: Mapping[str, str], name: str, default: int, maximum: int = 64) -> int:
    value = env.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit() or not 1 <= int(value) <= maximum:
        raise SystemExit(f"{name} must be a whole number from 1 to {maximum}, got {value!r}")
    return int(value)


def plan(env: Mapping[str, str], cores: int | None = None) -> list[WorkerPlan]:
    """The workers, in start order. Query concurrency: half the cores, at least 2 (a search never
    waits for another) and at most 4 (beyond that the web server's threads are the limit). OCR: one
    process unless OCR_WORKERS asks for more (each loads its own engine, about 100 MB)."""
    cores = cores or available_cores()
    query = count_from(env, "QUERY_CONCURRENCY", min(4, max(2, cores // 2)))
    ocr = count_from(env, "OCR_WORKERS", 1)
    return [
        WorkerPlan("ingest", "ingest", nice=INGEST_NICE),
        WorkerPlan("ocr", "ocr", ocr, "prefork" if ocr > 1 else "solo", nice=OCR_NICE),
        WorkerPlan("query", "query", query, "threads" if query > 1 else "solo"),
    ]
