"""Memory under the audit's attack (finding 1): concurrent anonymous searches by example with a
10000x10000 image. The query worker (a real process) and this process, which plays the web
server, must stay within a bounded amount of memory: huge PNGs are refused from their header,
huge JPEGs are decoded at 1/8 scale, and the worker only ever gets a reduced image."""

from __future__ import annotations

import contextlib
import threading
import time

import psutil
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connections

from tests.factories import api_client, draw_image, huge_jpeg, huge_png, image_bytes

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

CLIENTS = 8
ROUNDS = 3
# A full decode of one such image is 300-400 MB; bounded work stays far below that per process.
WORKER_GROWTH_LIMIT_MB = 250
WEB_GROWTH_LIMIT_MB = 400


def tree_rss_mb(process: psutil.Process) -> float:
    total = process.memory_info().rss
    for child in process.children(recursive=True):
        with contextlib.suppress(psutil.Error):  # a child that just ended
            total += child.memory_info().rss
    return total / 2**20


class PeakSampler(threading.Thread):
    def __init__(self, processes: dict[str, psutil.Process]) -> None:
        super().__init__(daemon=True)
        self.processes = processes
        self.baseline = {name: tree_rss_mb(p) for name, p in processes.items()}
        self.peak = dict(self.baseline)
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            for name, process in self.processes.items():
                self.peak[name] = max(self.peak[name], tree_rss_mb(process))
            time.sleep(0.02)

    def growth(self, name: str) -> float:
        return self.peak[name] - self.baseline[name]


def search_by_example(data: bytes, name: str) -> int:
    upload = SimpleUploadedFile(name, data, "image/png")
    try:
        return api_client().post("/api/search/", {"image": upload}, format="multipart").status_code
    finally:
        connections.close_all()


def test_concurrent_heavy_searches_keep_worker_and_web_memory_bounded(workers):
    query_worker = next(s for s in workers.services if s.name == "worker-query")
    assert search_by_example(image_bytes(draw_image("circle")), "warm.png") == 200  # model warm
    attacks = {"png": huge_png(10000, 10000), "jpeg": huge_jpeg(10000, 10000)}
    sampler = PeakSampler({"worker": psutil.Process(query_worker.process.pid), "web": psutil.Process()})
    sampler.start()
    statuses: dict[str, list[int]] = {"png": [], "jpeg": []}

    def client(kind: str) -> None:
        for _ in range(ROUNDS):
            statuses[kind].append(search_by_example(attacks[kind], f"attack.{kind}"))

    threads = [
        threading.Thread(target=client, args=(kind,)) for kind in ("png", "jpeg") for _ in range(CLIENTS // 2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    sampler.done.set()
    sampler.join()
    print({name: f"{sampler.baseline[name]:.0f} -> {sampler.peak[name]:.0f} MB" for name in sampler.peak})
    assert statuses["png"] == [400] * (CLIENTS // 2 * ROUNDS)  # refused from the header
    assert statuses["jpeg"] == [200] * (CLIENTS // 2 * ROUNDS)  # answered, decoded small
    assert sampler.growth("worker") < WORKER_GROWTH_LIMIT_MB, sampler.peak
    assert sampler.growth("web") < WEB_GROWTH_LIMIT_MB, sampler.peak
