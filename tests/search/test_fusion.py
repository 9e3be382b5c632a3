"""Reciprocal rank fusion of the keyword and vector rankings, with exact word matches first."""

from __future__ import annotations

import pytest

from search.engines.vector_store import Hit
from search.query.fusion import RRF_K, fuse, rrf
from search.query.keywords import KeywordHit


def kw(image_id: int, exact: bool = True, fields=("title",), score: float = 1.0) -> KeywordHit:
    return KeywordHit(image_id, score, tuple(fields), exact)


def test_rrf_is_reciprocal_rank_with_k_60() -> None:
    assert RRF_K == 60
    assert rrf(1) == pytest.approx(1 / 61)
    assert rrf(10) == pytest.approx(1 / 70)


def test_an_image_in_both_rankings_sums_both() -> None:
    fused = fuse([kw(7, exact=False)], [Hit(3, 0.9), Hit(7, 0.8)])
    by_id = {f.image_id: f for f in fused}
    assert by_id[7].rrf == pytest.approx(1 / 61 + 1 / 62)
    assert by_id[3].rrf == pytest.approx(1 / 61)
    assert [f.image_id for f in fused] == [7, 3]
    assert by_id[7].matches == ["semantic", "title"] and by_id[3].matches == ["semantic"]
    assert by_id[7].vector_score == pytest.approx(0.8) and by_id[3].keyword is None


def test_exact_word_matches_come_before_vector_noise() -> None:
    vector = [Hit(i, 0.99 - i / 100) for i in range(1, 40)]
    fused = fuse([kw(99, fields=("ocr",))], vector)
    assert fused[0].image_id == 99 and fused[0].matches == ["ocr"]
    # Among exact matches, the vector side still decides the order (the point of fusing).
    fused = fuse([kw(50), kw(60)], [Hit(60, 0.9), Hit(1, 0.8), Hit(50, 0.1)])
    assert [f.image_id for f in fused] == [60, 50, 1]


def test_substring_matches_are_fused_not_promoted() -> None:
    fused = fuse([kw(5, exact=False)], [Hit(1, 0.9), Hit(2, 0.8), Hit(3, 0.7)])
    assert [f.image_id for f in fused] == [5, 1, 2, 3]  # both first on one side: a tie the keyword breaks
    fused = fuse([kw(5, exact=False), kw(6, exact=False)], [Hit(1, 0.9), Hit(6, 0.8)])
    assert [f.image_id for f in fused] == [6, 5, 1]  # found by both beats found by one


def test_one_side_alone() -> None:
    assert [f.image_id for f in fuse([], [Hit(2, 0.5), Hit(1, 0.4)])] == [2, 1]
    assert [f.image_id for f in fuse([kw(2, score=1), kw(1, score=3)][::-1], [])] == [1, 2]
    assert fuse([], []) == []


def _follows_the_order(fused) -> bool:
    """Within each signal, the shown score never rises down the list."""
    last: dict[str, float] = {}
    for entry in fused:
        if entry.rank_score > last.get(entry.ranked_by, float("inf")):
            return False
        last[entry.ranked_by] = entry.rank_score
    return True


def test_each_result_says_which_signal_ranked_it_with_a_score_that_follows_the_order() -> None:
    """Issue 20: the page showed cosines under a fused order (-0.007 above 0.057)."""
    vector = [Hit(1, -0.007), Hit(2, 0.057), Hit(3, 0.03), Hit(4, 0.5)]
    fused = fuse([kw(4), kw(3, exact=False), kw(2, exact=False)], vector)
    assert [(f.image_id, f.ranked_by) for f in fused] == [
        (4, "words"),
        (3, "fused"),
        (2, "fused"),
        (1, "fused"),
    ]
    assert fused[0].rank_score == pytest.approx((1 / 61 + 1 / 64) * 61 / 2)
    assert _follows_the_order(fused)
    # First on both sides scores 1.0.
    assert fuse([kw(5)], [Hit(5, 0.2)])[0].rank_score == pytest.approx(1.0)
    # One side only: its own signal (the cosine for the vector side).
    semantic = fuse([], [Hit(1, 0.5), Hit(2, 0.057), Hit(3, -0.007)])  # Milvus: best cosine first
    assert [f.ranked_by for f in semantic] == ["semantic"] * 3
    assert [f.rank_score for f in semantic] == [0.5, 0.057, -0.007]
    text = fuse([kw(9), kw(8, exact=False), kw(7, exact=False)], [])
    assert [f.ranked_by for f in text] == ["words", "keywords", "keywords"]
    assert text[0].rank_score == pytest.approx(1.0) and _follows_the_order(text)
