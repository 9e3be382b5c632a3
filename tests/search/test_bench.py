"""`manage.py bench` runs end to end in a tiny configuration and writes every figure the report
promises (speed is never asserted here: the benchmark itself is where speed is judged)."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command

TOP_LEVEL = {
    "machine",
    "commit",
    "date",
    "models",
    "encoder_images_per_s",
    "pipeline_images_per_s",
    "ingest_vs_encoder_ratio",
    "live_images_per_s",
    "live_vs_pipeline_ratio",
    "text_search_ms",
    "bare_query_ms",
    "query_p50_vs_bare_ratio",
    "query_p95_under_ingest_vs_idle_ratio",
    "text_search_under_ingest_ms",
    "ann_recall_at_10",
    "duplicate_scan_s",
    "peak_rss_mb",
    "ocr_lag_s",
    "thread_sweep",
    "targets",
}


@pytest.mark.integration
@pytest.mark.timeout(900)
def test_a_tiny_bench_writes_the_whole_report(tmp_path) -> None:
    call_command(
        "bench",
        "--rounds=1",
        "--burst=3",
        "--corpus=60",
        "--queries=4",
        "--threads=1",
        "--encoder-model=demo",
        "--pipeline-images=4",
        "--images=8",
        "--vectors=300",
        "--ocr-images=1",
        "--hybrid-images=100",
        "--duplicates=100",
        f"--out={tmp_path}",
        stdout=StringIO(),
        stderr=StringIO(),
    )
    report = json.loads((tmp_path / "benchmarks.json").read_text())
    assert set(report) >= TOP_LEVEL, TOP_LEVEL - set(report)
    for key in ("encoder_images_per_s", "pipeline_images_per_s", "live_images_per_s"):
        assert report[key] > 0, key
    assert report["duplicate_scan_s"] >= 0  # bench_duplicates rounds to 0.1 s: 100 images may read 0
    for key in ("ingest_vs_encoder_ratio", "live_vs_pipeline_ratio", "query_p50_vs_bare_ratio"):
        assert report[key] > 0, key
    assert set(report["text_search_ms"]) >= {"p50", "p95", "p99"}
    assert set(report["bare_query_ms"]) >= {"p50", "p95"}
    assert 0 <= report["ann_recall_at_10"] <= 1
    assert report["ocr_lag_s"] is not None and report["ocr_lag"]["n"] == 3  # every burst image was read
    # One make run per thread setting, each with its text-encoding latency and indexing rate.
    sweep = report["thread_sweep"]
    assert set(sweep["settings"]) == {"default", "threads-1"}
    assert set(sweep["default_within_1_2x_of_best"]) == {"text_encode_p50", "live_images_per_s"}
    # Peak memory of every process make run started, by service.
    processes = {p["process"] for p in report["peak_rss_mb"]["make run (default)"]}
    assert {"redis", "milvus-lite server", "gunicorn"} <= processes
    assert any(p.startswith("worker ingest") for p in processes)
    assert report["encoder_model"] == "demo" and report["live_model"] == "demo"
    for target in report["targets"].values():
        assert target["met"] in (True, False)
    markdown = (tmp_path / "benchmarks.md").read_text()
    for words in (
        "# Benchmarks",
        "live_vs_pipeline_ratio",
        "Thread settings",
        "Peak memory",
        report["commit"],
    ):
        assert words in markdown
