"""The justified gallery's ratio classes (ingestion/justified.py) and their stylesheet."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from ingestion import justified


@pytest.mark.parametrize(
    ("size", "name"),
    [
        ((2000, 1000), "ar-200"),
        ((1000, 2000), "ar-50"),
        ((1600, 1200), "ar-133"),
        ((1, 1), "ar-100"),
        ((10000, 100), "ar-400"),
        ((100, 10000), "ar-25"),
        ((0, 0), "ar-100"),
    ],
)
def test_each_picture_gets_the_class_of_its_ratio_clamped(size, name) -> None:
    assert justified.ratio_class(*size) == name


def test_the_committed_stylesheet_has_every_class() -> None:
    committed = (Path(settings.BASE_DIR) / "static" / "justified.css").read_text()
    assert committed == justified.stylesheet(), "python -m ingestion.justified > static/justified.css"
    assert ".ar-50{--r:0.5}" in committed and ".ar-200{--r:2}" in committed


def test_sizes_name_the_tile_width_of_each_row_height() -> None:
    assert justified.tile_sizes(1000, 2000) == "(max-width: 640px) calc(120px * 0.5), calc(220px * 0.5)"
