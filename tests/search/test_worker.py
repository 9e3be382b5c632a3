"""Worker start-up by role: which model or engine each worker loads, and with how many threads."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from search.engines import ocr
from search.engines.encoder import EncoderState
from search.pipeline import text_reading, worker


@pytest.fixture
def started(monkeypatch) -> dict:
    """on_worker_ready's effects, recorded instead of done."""
    seen: dict = {"model_threads": None, "ocr_warming": False, "heartbeat": None}
    monkeypatch.setattr(
        worker, "start_loading_in_background", lambda threads: seen.update(model_threads=threads)
    )
    monkeypatch.setattr(text_reading, "start_warming_up", lambda: seen.update(ocr_warming=True))
    monkeypatch.setattr(worker.Heartbeat, "start", lambda self: seen.update(heartbeat=self))
    return seen


def ready(queues: list[str]) -> None:
    app = SimpleNamespace(amqp=SimpleNamespace(queues=SimpleNamespace(consume_from=dict.fromkeys(queues))))
    worker.on_worker_ready(SimpleNamespace(hostname=f"{queues[0]}@box", app=app))


def test_the_ocr_worker_loads_its_engine_and_no_clip_model(started) -> None:
    ready(["ocr"])
    assert started["model_threads"] is None and started["ocr_warming"]
    heartbeat = started["heartbeat"]
    assert heartbeat.queues == ["ocr"] and heartbeat.on_ready is None
    assert heartbeat.state is text_reading.reader_state  # what it publishes: its engine, not CLIP
    heartbeat.state = lambda: (EncoderState.LOADING, "loading the OCR engine")
    assert heartbeat.snapshot().state == EncoderState.LOADING


def test_the_query_worker_runs_torch_on_its_own_thread_count(started, settings) -> None:
    settings.QUERY_TORCH_THREADS, settings.TORCH_NUM_THREADS = 1, 3
    ready(["query"])
    assert started["model_threads"] == 1 and not started["ocr_warming"]
    assert started["heartbeat"].on_ready is None  # only the ingest worker sweeps pending images


def test_the_ingest_worker_sweeps_and_renews_its_leases(started, settings, monkeypatch) -> None:
    settings.QUERY_TORCH_THREADS, settings.TORCH_NUM_THREADS = 1, 3
    ready(["ingest"])
    assert started["model_threads"] == 3
    heartbeat = started["heartbeat"]
    assert heartbeat.on_ready is not None
    calls: list = []
    monkeypatch.setattr(worker.claims, "renew_all", lambda: calls.append("renew"))
    monkeypatch.setattr(worker.switching, "follow", lambda preload_target: calls.append(preload_target))
    heartbeat.on_beat()
    # Follows the switch row without loading a switch's target ahead (the build loads it lazily).
    assert calls == [False, "renew"]


def test_the_query_worker_follows_the_switch_row_and_loads_its_target_ahead(started, monkeypatch) -> None:
    ready(["query"])
    calls: list = []
    monkeypatch.setattr(worker.switching, "follow", lambda preload_target: calls.append(preload_target))
    monkeypatch.setattr(worker.claims, "renew_all", lambda: calls.append("renew"))
    started["heartbeat"].on_beat()
    assert calls == [True]


def test_the_ocr_worker_reports_ready_once_its_engine_loaded(settings, monkeypatch) -> None:
    settings.OCR_ENABLED = True
    loaded = threading.Event()
    monkeypatch.setattr(ocr, "_engine", ocr.OcrEngine(lambda threads: loaded.wait(30) and object()))
    assert text_reading.reader_state()[0] == EncoderState.IDLE
    thread = text_reading.start_warming_up()
    assert text_reading.reader_state() == (EncoderState.LOADING, "loading the OCR engine")
    loaded.set()
    thread.join(30)
    assert text_reading.reader_state() == (EncoderState.OK, "reads words in images")


def test_with_ocr_off_the_ocr_worker_is_ready_at_once(settings) -> None:
    settings.OCR_ENABLED = False  # nothing to load
    assert text_reading.start_warming_up() is None
    assert text_reading.reader_state() == (EncoderState.OK, "OCR is off (OCR_ENABLED)")
