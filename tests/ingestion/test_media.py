"""Originals and thumbnails go through permission checks: private means private."""

from __future__ import annotations

import io

import pytest
from django.test import Client
from PIL import Image as PILImage

from tests.factories import PASSWORD, api_client, draw_image, image_bytes, index, make_image, make_user

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
