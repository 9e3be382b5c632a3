"""Originals and thumbnails go through permission checks: private means private, and only the owner
gets a photo's location."""

from __future__ import annotations

import io
import stat
from pathlib import Path

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.test import Client
from PIL import Image as PILImage

from ingestion.metadata import public_copy, read_location
from tests.factories import PASSWORD, api_client, draw_image, image_bytes, index, make_image, make_user
from tests.ingestion.test_metadata import BERLIN, assert_private_data_gone, photo, pixels

pytestmark = pytest.mark.django_db


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_original_and_thumbnail_of_a_public_image(clean_index) -> None:
    data = image_bytes(draw_image("circle", color=(0, 90, 200)), "JPEG")
    image = make_image(make_user(), "circle", data=data)
    client = Client()

    # Not indexed yet: the original is there, the thumbnail is not.
    assert client.get(f"/media/images/{image.pk}/thumbnail.webp").status_code == 404
    index(image)

    original = client.get(f"/media/images/{image.pk}/original")
    assert original.status_code == 200
    assert original["Content-Type"] == "image/jpeg"
    assert original["Cache-Control"] == "public, max-age=86400"
    assert original["X-Content-Type-Options"] == "nosniff"
    assert body(original) == data

    thumbnail = client.get(image.thumbnail_url)
    assert thumbnail.status_code == 200
    assert thumbnail["Content-Type"] == "image/webp"
    assert PILImage.open(io.BytesIO(body(thumbnail))).format == "WEBP"


def test_private_image_only_for_its_owner() -> None:
    owner = make_user("alice")
    make_user("bob")
    image = make_image(owner, "square", visibility="private")
    url = f"/media/images/{image.pk}/original"

    assert Client().get(url).status_code == 404
    bob = Client()
    assert bob.login(username="bob", password=PASSWORD)
    assert bob.get(url).status_code == 404
    assert Client().get(url, HTTP_AUTHORIZATION="Token not-a-real-token").status_code == 404

    session = Client()
    assert session.login(username="alice", password=PASSWORD)
    response = session.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Cache-Control"] == "private, max-age=86400"

    # API clients follow `url` with their token.
    token = api_client(owner)
    assert token.get(url).status_code == 200
    assert api_client(make_user("carol")).get(url).status_code == 404


def test_unknown_image_and_wrong_method() -> None:
    image = make_image(make_user())
    assert Client().get("/media/images/999999/original").status_code == 404
    assert Client().post(f"/media/images/{image.pk}/original").status_code == 405


def test_others_get_the_original_without_location_and_serials_the_owner_gets_it_intact() -> None:
    owner = make_user("alice")
    make_user("bob")
    data = photo("JPEG")
    image = make_image(owner, "circle", data=data)
    url = f"/media/images/{image.pk}/original"

    bob = Client()
    assert bob.login(username="bob", password=PASSWORD)
    for response in (Client().get(url), bob.get(url), api_client(make_user("carol")).get(url)):
        assert response.status_code == 200
        assert response["Content-Type"] == "image/jpeg"
        served = body(response)
        assert served != data
        assert_private_data_gone(served)
        assert np.array_equal(pixels(served), pixels(data))
    assert Client().get(url)["Cache-Control"] == "public, max-age=86400"

    alice = Client()
    assert alice.login(username="alice", password=PASSWORD)
    for response in (alice.get(url), api_client(owner).get(url)):
        served = body(response)
        assert served == data
        assert read_location(served) == BERLIN
        # Other people get other bytes at this URL: the owner's copy never goes in a shared cache.
        assert response["Cache-Control"] == "private, max-age=86400"
        assert {"Cookie", "Authorization"} <= {v.strip() for v in response["Vary"].split(",")}


def test_the_image_page_shows_the_location_to_the_owner_only() -> None:
    owner = make_user("alice")
    make_user("bob")
    image = make_image(owner, "circle", data=photo("JPEG"))
    shown = str(BERLIN)
    assert shown == "52.520094, -13.400000"

    alice = Client()
    assert alice.login(username="alice", password=PASSWORD)
    page = alice.get(image.get_absolute_url())
    assert page.status_code == 200
    assert shown in page.content.decode()

    bob = Client()
    assert bob.login(username="bob", password=PASSWORD)
    for client in (bob, Client()):
        page = client.get(image.get_absolute_url())
        assert page.status_code == 200
        assert shown not in page.content.decode() and "Location" not in page.content.decode()


def test_stored_files_are_private_on_disk() -> None:
    image = make_image(make_user(), data=photo("JPEG"))
    path = Path(default_storage.path(image.original.name))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    copy = Path(default_storage.path(public_copy(image.original.name, image.format)))
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600


@pytest.mark.parametrize("kind", ["PNG", "GIF"])
def test_the_served_public_original_carries_no_text_chunks_or_comments(kind: str) -> None:
    """Issue 15 item 8, through the real media view: PNG text chunks (plain, zipped, compressed
    international) and GIF comments never reach anyone but the owner; the PNG keeps its profile."""
    from tests.ingestion.test_metadata import ICC, assert_no_free_text, gif_with_comment, png_with_text

    owner = make_user("alice")
    make_user("bob")
    data = png_with_text() if kind == "PNG" else gif_with_comment()
    image = make_image(owner, data=data)
    url = f"/media/images/{image.pk}/original"
    bob = Client()
    assert bob.login(username="bob", password=PASSWORD)
    for client in (Client(), bob):
        response = client.get(url)
        assert response.status_code == 200
        served = body(response)
        assert_no_free_text(served)
        assert np.array_equal(pixels(served), pixels(data))
        if kind == "PNG":
            with PILImage.open(io.BytesIO(served)) as img:
                assert img.info["icc_profile"] == ICC
    owner_client = Client()
    assert owner_client.login(username="alice", password=PASSWORD)
    assert body(owner_client.get(url)) == data  # the owner's file, byte for byte
