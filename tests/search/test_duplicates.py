"""Duplicates: exact copies by SHA-256, near-duplicates by PDQ or a very high CLIP score, the rest similar."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image as PILImage
from PIL import ImageDraw

from ingestion.models import Image
from search.duplicates import EXACT, NEAR, SIMILAR, find_duplicates, pdq_distance
from tests.factories import api_client, draw_image, image_bytes, index, make_image, make_user

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_index")]


def scene(seed: int = 0, size: tuple[int, int] = (640, 480)) -> PILImage.Image:
    """A photo-like picture (gradient plus shapes): flat drawings give PDQ too little texture."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0 : size[1], 0 : size[0]]
    gradient = np.stack([x / size[0], y / size[1], (x + y) / sum(size)], -1) * 255
    image = PILImage.fromarray(gradient.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(15):
        x0, y0 = rng.integers(0, size[0]), rng.integers(0, size[1])
        box = (x0, y0, x0 + rng.integers(30, 200), y0 + rng.integers(30, 200))
        draw.ellipse(box, fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
    return image


def photo() -> bytes:
    return image_bytes(scene(), "PNG")


def resized_jpeg() -> bytes:
    return image_bytes(scene().resize((320, 240)), "JPEG", quality=70)


def test_exact_copy_near_copy_and_other_images(alice, settings) -> None:
    settings.NEAR_DUPLICATE_SCORE = 1.01  # PDQ alone decides "near" here (CLIP tier tested below)
    settings.DUPLICATE_MIN_SCORE = -1.0  # list every image, so the "similar" tier shows too
    source = make_image(alice, data=photo())
    copy = make_image(alice, data=photo())  # same bytes
    resized = make_image(alice, data=resized_jpeg())
    other = make_image(alice, data=image_bytes(scene(seed=1), "PNG"))
    index(source, copy, resized, other)

    found = {d.image.pk: d for d in find_duplicates(source, alice)}

    assert found[copy.pk].kind == EXACT and found[copy.pk].pdq_distance == 0
    assert found[resized.pk].kind == NEAR
    assert found[resized.pk].pdq_distance <= settings.PDQ_MATCH_DISTANCE
    assert found[other.pk].kind == SIMILAR and found[other.pk].pdq_distance > 64
    assert source.pk not in found
    assert [d.kind for d in find_duplicates(source, alice)] == [EXACT, NEAR, SIMILAR]


def test_a_very_high_clip_score_is_near_even_without_a_pdq_match(alice, settings) -> None:
    settings.NEAR_DUPLICATE_SCORE = -1.0
    settings.PDQ_MATCH_DISTANCE = -1
    source, other = make_image(alice, data=photo()), make_image(alice, "circle")
    index(source, other)
    assert [(d.image.pk, d.kind) for d in find_duplicates(source, alice, min_score=-1.0)] == [
        (other.pk, NEAR)
    ]


def test_low_quality_pdq_hashes_are_not_trusted(alice, settings) -> None:
    flat = make_image(alice, data=image_bytes(draw_image("circle", color=(240, 240, 240)), "PNG"))
    index(flat)
    flat.pdq_quality = settings.PDQ_MIN_QUALITY - 1
    assert pdq_distance(flat, flat) is None


def test_the_floor_cuts_and_others_private_images_stay_hidden(alice, settings) -> None:
    bob = make_user("bob")
    source = make_image(alice, data=photo())
    hidden = make_image(bob, data=photo(), visibility=Image.Visibility.PRIVATE)
    index(source, hidden)
    assert find_duplicates(source, alice, min_score=-1.0) == []
    assert [d.image.pk for d in find_duplicates(source, bob, min_score=-1.0)] == [hidden.pk]


def test_api_contract(alice) -> None:
    source, copy = make_image(alice, data=photo()), make_image(alice, data=photo())
    index(source, copy)
    response = api_client(alice).get(f"/api/images/{source.pk}/duplicates/")
    assert response.status_code == 200
    (entry,) = response.json()["duplicates"]
    assert {"id", "score", "pdq_distance", "kind"} <= set(entry)
    assert (entry["id"], entry["kind"], entry["pdq_distance"]) == (copy.pk, "exact", 0)
    assert api_client(alice).get(f"/api/images/{source.pk}/duplicates/?min_score=7").status_code == 400
    assert api_client().get("/api/images/999999/duplicates/").status_code == 404


def test_pdq_finds_a_resized_copy_even_below_the_clip_floor(alice, settings) -> None:
    settings.DUPLICATE_MIN_SCORE = 1.01  # CLIP alone would find nothing
    source, resized = make_image(alice, data=photo()), make_image(alice, data=resized_jpeg())
    other = make_image(alice, data=image_bytes(scene(seed=1), "PNG"))
    index(source, resized, other)

    (found,) = find_duplicates(source, alice)

    assert (found.image.pk, found.kind) == (resized.pk, NEAR)
    assert found.pdq_distance <= settings.PDQ_MATCH_DISTANCE
    assert found.score == pytest.approx(float(source.embedding_vector() @ resized.embedding_vector()))


def test_deleting_an_image_removes_its_hash(alice, django_capture_on_commit_callbacks) -> None:
    from search.index import hash_store

    image = make_image(alice, data=photo())
    index(image)
    pk = image.pk
    assert hash_store().ids() == {pk}
    with django_capture_on_commit_callbacks(execute=True):
        image.delete()
    assert hash_store().ids() == set()
