"""bench runs end to end on small numbers and reports every figure (speed is not asserted here)."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command

from ingestion.models import Image


@pytest.mark.django_db
def test_bench_reports_all_figures() -> None:
    out = StringIO()
    call_command(
        "bench", images=8, vectors=300, queries=5, ocr_images=1, hybrid_images=200, json=True, stdout=out
    )
    results = json.loads(out.getvalue())
    assert results["model"] == "demo" and results["vectors"] == 300
    for key in (
        "validate_ms_per_image",
        "prepare_ms_per_image",
        "encode_images_per_s",
        "encode_text_ms_p50",
        "milvus_upsert_vectors_per_s",
        "search_top10_ms_p50",
        "search_top10_filtered_ms_p50",
        "ocr_ms_per_image_with_text_p50",
        "ocr_ms_per_image_without_text_p50",
        "hybrid_search_ms_p95",
        "keyword_search_ms_p95",
    ):
        assert results[key] > 0, key
    # The corpus is near-duplicates of 8 images, so exact top-10 sets are ambiguous only at ties.
    assert 0.5 <= results["search_recall_at_10"] <= 1.0
    assert results["hybrid_images"] == 200 and results["ocr_lines_found_per_sign"] >= 1
    assert not Image.objects.exists()  # the hybrid bench's rows were rolled back
