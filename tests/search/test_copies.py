"""The one copy judgement (`search.query.copies`): when the CLIP tier may judge, the earlier setting
names still read, the new cut variants, and crops taken from the picture as it is."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.images import central_crop, cut, photo
from ingestion.processing import compute_pdq, pdq_variants, trim_borders
from search import variants
from search.query import copies

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("model", "mode", "enabled"),
    [
        ("demo", "auto", False),
        ("demo-64", "auto", False),
        ("openai/clip-vit-base-patch32", "auto", True),
        ("/models/my-finetune", "off", False),
        ("demo", "on", True),  # a folder the code cannot judge: the operator decides
    ],
)
def test_one_setting_decides_whether_clip_may_judge(settings, model, mode, enabled):
    settings.CLIP_MODEL, settings.DUPLICATE_SEMANTIC = model, mode
    assert copies.semantic_enabled() is enabled
    assert bool(copies.semantic_off_reason()) is not enabled


@pytest.mark.django_db
def test_the_reason_names_the_demo_model_or_the_setting(settings):
    settings.CLIP_MODEL, settings.DUPLICATE_SEMANTIC = "demo", "auto"
    assert "demo model" in copies.semantic_off_reason()
    settings.CLIP_MODEL, settings.DUPLICATE_SEMANTIC = "openai/clip-vit-base-patch32", "off"
    assert "DUPLICATE_SEMANTIC=off" in copies.semantic_off_reason()


def _settings(**env: str) -> subprocess.CompletedProcess:
    code = "import webapp.settings as s; print(s.PDQ_MATCH_DISTANCE, s.DUPLICATE_SEMANTIC)"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SECRET_KEY": "k", "DATA_DIR": "/nonexistent", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "31 auto"),
        ({"MODERATION_PDQ_DISTANCE": "20", "MODERATION_SEMANTIC": "0"}, "20 off"),
        ({"MODERATION_PDQ_DISTANCE": "20", "PDQ_MATCH_DISTANCE": "25", "DUPLICATE_SEMANTIC": "on"}, "25 on"),
    ],
)
def test_one_distance_and_the_earlier_names_still_read(env, expected):
    result = _settings(**env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


def test_a_bad_semantic_mode_is_refused_by_name():
    result = _settings(DUPLICATE_SEMANTIC="maybe")
    assert result.returncode != 0
    assert "DUPLICATE_SEMANTIC must be one of auto, on, off, got 'maybe'" in result.stderr


@pytest.mark.parametrize("side", ["top", "bottom", "left", "right"])
@pytest.mark.parametrize("share", [0.15, 0.20])
def test_a_side_cut_off_meets_its_stored_level_and_no_other(share, side):
    original = photo(1000)
    stored = {v.kind: v.pdq_hash for v in pdq_variants(original)}
    cut_hash, _ = compute_pdq(cut(original, share, side))
    kind = f"cut{round(share * 100)}-{side}"
    assert variants.is_stored(kind)
    assert variants.hamming(cut_hash, stored[kind]) <= 31
    others = [k for k in stored if k != kind and not k.startswith(f"cut{round(share * 100)}")]
    assert min(variants.hamming(cut_hash, stored[k]) for k in others) > 31


def test_crops_are_of_the_picture_even_when_an_edge_looks_like_a_border():
    """A smooth band along the top (sky, a wall) is "trimmed"; crops of the trimmed picture met no
    crop of the original (the bench lost 1 in 6 crops to this)."""
    picture = np.asarray(photo(1001)).copy()
    picture[:40] = 180  # rows like a clear sky: uniform enough to pass for a border
    original = Image.fromarray(picture)
    assert trim_borders(original) is not None
    stored = {v.kind: v.pdq_hash for v in pdq_variants(original)}
    crop = central_crop(original, 0.10)
    assert variants.hamming(compute_pdq(crop)[0], stored["crop90"]) <= 31


def test_row_ids_keep_owner_and_kind_apart():
    for kind in variants.STORED_KINDS:
        assert variants.split_row_id(variants.row_id(123456, kind)) == (123456, kind)
    assert len(set(variants.all_row_ids(7))) == len(variants.STORED_KINDS) <= variants.VARIANT_SLOTS
    assert set(variants.all_row_ids(7)).isdisjoint(variants.all_row_ids(8))
