"""Search by a region of a stored image (`?similar=<id>&region=x,y,w,h`, page and API): the region
is parsed strictly, the viewer must be allowed to see the image (404 otherwise, as for a missing
one), the server crops the stored original (as seen, EXIF-oriented) and the crop is encoded by the
query worker like an example image."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from django.contrib.auth.models import Group as AuthGroup
from django.test import Client
from PIL import Image as PILImage

from ingestion.access import MODERATORS_GROUP
from search.query import regions
from search.query.queries import BadQuery
from tests.factories import api_client, draw_image, image_bytes, index, make_image, make_user, signed_in

# ---------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0,0,1,1", (0, 0, 1, 1)),
        ("0.25,0.5,0.5,0.25", (0.25, 0.5, 0.5, 0.25)),
        (" 0.1 , 0.1 , 0.3 , 0.3 ", (0.1, 0.1, 0.3, 0.3)),
        ("0.5,0.5,0.5000000001,0.5", (0.5, 0.5, 0.5, 0.5)),  # a browser's rounding at the edge
    ],
)
def test_a_region_is_four_fractions_of_the_picture(raw: str, expected) -> None:
    region = regions.parse_region(raw)
    assert (region.x, region.y, region.w, region.h) == pytest.approx(expected)
    assert regions.parse_region(str(region)) == region  # what the results address carries


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("", "four numbers"),
        ("0.1,0.1,0.5", "four numbers"),
        ("0.1,0.1,0.5,0.5,0.5", "four numbers"),
        ("a,b,c,d", "four numbers"),
        ("nan,0,0.5,0.5", "four numbers"),
        ("0,inf,0.5,0.5", "four numbers"),
        ("1e999,0,0.5,0.5", "four numbers"),
        ("0," * 60 + "1", "four numbers"),
        ("-0.1,0,0.5,0.5", "from 0"),
        ("1,0,0.5,0.5", "from 0"),
        ("0,0,0,0.5", "above 0"),
        ("0,0,1.5,0.5", "above 0"),
        ("0.6,0,0.5,0.5", "outside the picture"),
        ("0,0.9,0.5,0.2", "outside the picture"),
        ("0,0,0.01,0.5", "too small"),
    ],
)
def test_a_bad_region_says_what_is_wrong(raw: str, words: str) -> None:
    with pytest.raises(BadQuery, match=words):
        regions.parse_region(raw)


def test_no_region_is_none() -> None:
    assert regions.parse_region(None) is None


def test_the_decode_size_follows_the_region_within_the_bound() -> None:
    assert regions.decode_side(regions.Region(0, 0, 1, 1)) == regions.CROP_TARGET_SIDE
    assert regions.decode_side(regions.Region(0, 0, 0.5, 0.25)) == 2 * regions.CROP_TARGET_SIDE
    assert regions.decode_side(regions.Region(0, 0, 0.02, 0.02)) == 2048  # never past the worker's


# ---------------------------------------------------------------------------- cropping


def halves(size=(400, 200)) -> PILImage.Image:
    """Red on the left half, blue on the right."""
    picture = PILImage.new("RGB", size, (0, 0, 255))
    picture.paste((255, 0, 0), (0, 0, size[0] // 2, size[1]))
    return picture


def decoded(data: bytes) -> PILImage.Image:
    return PILImage.open(io.BytesIO(data)).convert("RGB")


@pytest.mark.django_db
def test_the_crop_is_the_region_of_the_stored_original(alice) -> None:
    image = make_image(alice, data=image_bytes(halves(), "PNG"))
    left = decoded(regions.crop(image, regions.Region(0, 0, 0.5, 1)))
    right = decoded(regions.crop(image, regions.Region(0.5, 0.5, 0.5, 0.5)))
    assert left.size == (200, 200) and right.size == (200, 100)
    assert (np.asarray(left) == (255, 0, 0)).all()
    assert (np.asarray(right) == (0, 0, 255)).all()


@pytest.mark.django_db
def test_the_crop_is_taken_from_the_picture_as_seen(alice) -> None:
    # Stored 400x200 with EXIF orientation 6 (turn a quarter clockwise): seen 200x400, red on top.
    exif = PILImage.Exif()
    exif[0x0112] = 6
    image = make_image(alice, data=image_bytes(halves(), "JPEG", exif=exif, quality=95))
    assert (image.width, image.height) == (200, 400)
    top = decoded(regions.crop(image, regions.Region(0, 0, 1, 0.4)))
    assert top.size == (200, 160)
    red, _, blue = np.asarray(top).reshape(-1, 3).mean(axis=0)
    assert red > 200 and blue < 60


@pytest.mark.django_db
def test_a_huge_picture_is_decoded_reduced_and_the_crop_sent_small(alice, settings) -> None:
    image = make_image(alice, data=image_bytes(halves((6000, 3000)), "JPEG", quality=70))
    part = decoded(regions.crop(image, regions.Region(0, 0, 1, 1)))
    assert max(part.size) <= min(settings.QUERY_IMAGE_SIDE, 2 * regions.CROP_TARGET_SIDE)


@pytest.mark.django_db
def test_a_region_too_small_in_pixels_is_refused(alice) -> None:
    image = make_image(alice, data=image_bytes(draw_image(size=(100, 100)), "PNG"))
    with pytest.raises(BadQuery, match="at least 16 of its pixels"):
        regions.check_pixels(image, regions.Region(0, 0, 0.1, 0.5))
    regions.check_pixels(image, regions.Region(0, 0, 0.2, 0.2))


# ---------------------------------------------------------------------------- the endpoints


@pytest.fixture
def moderator(db):
    user = make_user("mod")
    user.groups.add(AuthGroup.objects.get_or_create(name=MODERATORS_GROUP)[0])
    return user


@pytest.fixture
def scene(alice):
    """Alice's picture of a red circle beside blue stripes; the stripes alone; other pictures."""
    both = PILImage.new("RGB", (640, 240), (240, 240, 240))
    both.paste(draw_image("circle", size=(320, 240)), (0, 0))
    stripes = draw_image("stripes", size=(320, 240), color=(30, 30, 200))
    both.paste(stripes, (320, 0))
    source = make_image(alice, "circle", data=image_bytes(both, "PNG"), title="scene")
    private = make_image(alice, "circle", data=image_bytes(both.rotate(180), "PNG"), visibility="private")
    alone = make_image(alice, "stripes", data=image_bytes(stripes, "PNG"), title="stripes alone")
    others = [
        make_image(alice, kind, color=(20 * n, 160, 90))
        for n, kind in enumerate(("circle", "square", "triangle"))
    ]
    index(source, private, alone, *others)
    return {"source": source, "private": private, "alone": alone}


RIGHT_HALF = "0.5,0,0.5,1"


@pytest.mark.django_db
@pytest.mark.usefixtures("workers", "clean_index")
def test_the_api_finds_what_is_inside_the_region(scene) -> None:
    response = api_client().get(f"/api/images/{scene['source'].pk}/similar/", {"region": RIGHT_HALF})
    assert response.status_code == 200, response.content
    body = response.json()
    ids = [r["id"] for r in body["results"]]
    assert ids[0] == scene["alone"].pk  # the stripes, cut out of the scene, find the stripes
    assert body["results"][0]["score"] > 0.99
    assert scene["source"].pk not in ids and scene["private"].pk not in ids  # itself; not listed
    assert body["model"]


@pytest.mark.django_db
@pytest.mark.usefixtures("workers", "clean_index")
def test_the_page_keeps_the_region_in_the_results_address(scene) -> None:
    source = scene["source"]
    response = Client().get("/search/", {"similar": source.pk, "region": RIGHT_HALF})
    assert response.status_code == 200
    html = response.content.decode()
    first = re.search(r'data-result-id="(\d+)"', html)
    assert first and int(first.group(1)) == scene["alone"].pk
    assert 'id="region-note" data-region="0.5,0,0.5,1"' in html


@pytest.mark.django_db
@pytest.mark.usefixtures("workers", "clean_index")
@pytest.mark.parametrize(
    ("who", "public", "private"),
    [
        ("anonymous", 200, 404),
        ("owner", 200, 200),
        ("other", 200, 404),
        ("moderator", 200, 404),  # moderators never open others' private images here
        ("superuser", 200, 404),
    ],
)
def test_who_may_search_by_a_region_of_which_image(scene, moderator, who, public, private) -> None:
    users = {
        "anonymous": None,
        "owner": scene["source"].owner,
        "other": make_user("bob"),
        "moderator": moderator,
        "superuser": make_user("root", is_superuser=True, is_staff=True),
    }
    client = api_client(users[who])
    for image, status in ((scene["source"], public), (scene["private"], private)):
        response = client.get(f"/api/images/{image.pk}/similar/", {"region": RIGHT_HALF})
        assert response.status_code == status, (who, image.title, response.content)
        if status == 404:
            # Exactly the answer for an image that does not exist, bad region or not.
            missing = client.get("/api/images/999999/similar/", {"region": RIGHT_HALF})
            assert response.json() == missing.json()
            assert client.get(f"/api/images/{image.pk}/similar/", {"region": "x"}).json() == missing.json()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("region", "words"),
    [("1,2,3", "four numbers"), ("0.9,0,0.5,0.5", "outside"), ("0,0,0.001,0.5", "too small")],
)
def test_bad_regions_are_a_clear_400_on_the_api_and_the_page(alice, region: str, words: str) -> None:
    image = make_image(alice)
    response = api_client(alice).get(f"/api/images/{image.pk}/similar/", {"region": region})
    assert response.status_code == 400 and words in response.json()["error"]
    page = signed_in(alice).get("/search/", {"similar": image.pk, "region": region})
    assert page.status_code == 400 and words in page.content.decode()


@pytest.mark.django_db
def test_a_region_needs_an_image_on_the_page(alice) -> None:
    page = Client().get("/search/", {"q": "cat", "region": "0,0,0.5,0.5"})
    assert page.status_code == 400
    assert "region needs similar=" in page.content.decode()


@pytest.mark.django_db
def test_a_region_too_small_for_the_picture_is_a_400(alice) -> None:
    image = make_image(alice, data=image_bytes(draw_image(size=(100, 100)), "PNG"))
    response = api_client(alice).get(f"/api/images/{image.pk}/similar/", {"region": "0,0,0.1,0.5"})
    assert response.status_code == 400 and "16 of its pixels" in response.json()["error"]


@pytest.mark.django_db
def test_a_region_search_counts_in_the_search_by_image_budget(alice, settings) -> None:
    from django.core.cache import caches

    caches["throttle"].clear()
    caches["default"].clear()
    settings.THROTTLE_RATES = {scope: "100000/min" for scope in settings.THROTTLE_RATES}
    settings.THROTTLE_RATES["search_image"] = "1/min"
    image = make_image(alice)
    client = api_client(alice)
    assert client.get(f"/api/images/{image.pk}/similar/", {"region": "x"}).status_code == 400
    assert client.get(f"/api/images/{image.pk}/similar/", {"region": "x"}).status_code == 429
    page = signed_in(alice)
    assert page.get("/search/", {"similar": image.pk, "region": "x"}).status_code == 429  # same budget
    # Without a region it is a plain search (the image is pending: a 400, not a 429).
    assert client.get(f"/api/images/{image.pk}/similar/").status_code == 400
    caches["throttle"].clear()
    caches["default"].clear()
