"""Duplicates of one image (`search.query.duplicates` over `search.query.copies`): exact copies by SHA-256,
near copies by PDQ variants or (where the model can judge) a very high CLIP score, the rest similar."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image as PILImage
from PIL import ImageDraw, ImageOps

from ingestion.models import Image
from search.query import copies
from search.query.duplicates import EXACT, NEAR, SIMILAR, find_duplicates
from tests.factories import (
    api_client,
    draw_image,
    image_bytes,
    index,
    make_image,
    make_user,
    plain_hash,
    vector_of,
)

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
    settings.DUPLICATE_SEMANTIC = "on"  # a model that can judge: the "similar" tier shows too
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
    assert found[other.pk].kind == SIMILAR and found[other.pk].pdq_distance is None
    assert source.pk not in found
    assert [d.kind for d in find_duplicates(source, alice)] == [EXACT, NEAR, SIMILAR]


def test_the_demo_model_judges_nothing_by_clip_and_says_why(alice, settings) -> None:
    """The random-weight demo model rated unrelated pictures 0.99 alike: with it only exact and
    PDQ matches count, and the answer says the CLIP tier is off."""
    settings.CLIP_MODEL = "demo"
    settings.NEAR_DUPLICATE_SCORE = -1.0  # any cosine would be "near" if CLIP were asked
    settings.DUPLICATE_MIN_SCORE = -1.0
    source = make_image(alice, data=photo())
    other = make_image(alice, data=image_bytes(scene(seed=1), "PNG"))
    index(source, other)
    assert find_duplicates(source, alice) == []
    body = api_client(alice).get(f"/api/images/{source.pk}/duplicates/").json()
    assert body["duplicates"] == [] and body["semantic_tier"] is False
    assert "demo model" in body["semantic_off_reason"]


def test_a_very_high_clip_score_is_near_even_without_a_pdq_match(alice, settings) -> None:
    settings.DUPLICATE_SEMANTIC = "on"
    settings.NEAR_DUPLICATE_SCORE = -1.0
    settings.PDQ_MATCH_DISTANCE = -1
    source, other = make_image(alice, data=photo()), make_image(alice, "circle")
    index(source, other)
    assert [(d.image.pk, d.kind) for d in find_duplicates(source, alice, min_score=-1.0)] == [
        (other.pk, NEAR)
    ]


@pytest.mark.parametrize(
    "edit",
    [
        lambda im: ImageOps.mirror(im),
        lambda im: im.crop((0, round(im.height * 0.15), im.width, im.height)),  # 15% off the top
        lambda im: im.crop((0, 0, round(im.width * 0.8), im.height)),  # 20% off the right
        lambda im: ImageOps.expand(im, border=32, fill=(0, 0, 0)),
    ],
    ids=["mirror", "cut 15% top", "cut 20% right", "border"],
)
def test_transformed_copies_are_near_both_ways(alice, edit) -> None:
    """The endpoint asks the same judgement as the queue: an edited copy is found from either side."""
    source = make_image(alice, data=photo())
    copy = make_image(alice, data=image_bytes(edit(scene()), "JPEG", quality=90))
    other = make_image(alice, data=image_bytes(scene(seed=1), "PNG"))
    index(source, copy, other)
    assert [(d.image.pk, d.kind) for d in find_duplicates(source, alice)] == [(copy.pk, NEAR)]
    (found,) = find_duplicates(copy, alice)
    assert found.image.pk == source.pk and found.variant


def test_the_endpoint_and_the_queue_give_the_same_answer(alice) -> None:
    from moderation import detection

    images = [make_image(alice, data=photo())]
    images.append(make_image(alice, data=resized_jpeg()))
    images.append(make_image(alice, data=image_bytes(ImageOps.mirror(scene()), "JPEG", quality=90)))
    images.append(make_image(alice, data=image_bytes(scene(seed=1), "PNG")))
    index(*images)
    endpoint = {
        tuple(sorted((image.pk, d.image.pk))) for image in images for d in find_duplicates(image, alice)
    }
    queue = {(c.a, c.b) for c in detection.find_candidates(detection.load(i.pk for i in images))}
    assert endpoint == queue and len(endpoint) == 3


def test_low_quality_pdq_hashes_are_not_trusted(alice, settings) -> None:
    flat = make_image(alice, data=image_bytes(draw_image("circle", color=(240, 240, 240)), "PNG"))
    twin = make_image(alice, data=image_bytes(draw_image("circle", color=(240, 240, 241)), "PNG"))
    index(flat, twin)
    assert plain_hash(flat).quality < settings.PDQ_MIN_QUALITY
    assert copies.query_hashes(Image.objects.prefetch_related("hash_variants").get(pk=flat.pk)) == []
    assert find_duplicates(flat, alice) == []


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
    assert {"id", "score", "pdq_distance", "kind", "variant"} <= set(entry)
    assert (entry["id"], entry["kind"], entry["pdq_distance"]) == (copy.pk, "exact", 0)
    assert api_client(alice).get(f"/api/images/{source.pk}/duplicates/?min_score=7").status_code == 400
    assert api_client().get("/api/images/999999/duplicates/").status_code == 404


def test_pdq_finds_a_resized_copy_even_below_the_clip_floor(alice, settings) -> None:
    settings.DUPLICATE_SEMANTIC = "on"
    settings.DUPLICATE_MIN_SCORE = settings.NEAR_DUPLICATE_SCORE = 1.01  # CLIP alone finds nothing
    source, resized = make_image(alice, data=photo()), make_image(alice, data=resized_jpeg())
    other = make_image(alice, data=image_bytes(scene(seed=1), "PNG"))
    index(source, resized, other)

    (found,) = find_duplicates(source, alice)

    assert (found.image.pk, found.kind) == (resized.pk, NEAR)
    assert found.pdq_distance <= settings.PDQ_MATCH_DISTANCE
    assert found.score == pytest.approx(float(vector_of(source) @ vector_of(resized)))


def test_deleting_an_image_removes_its_hash(alice, django_capture_on_commit_callbacks) -> None:
    from search.index import hash_store

    image = make_image(alice, data=photo())
    index(image)
    pk = image.pk
    assert hash_store().ids() == {pk}
    with django_capture_on_commit_callbacks(execute=True):
        image.delete()
    assert hash_store().ids() == set()
