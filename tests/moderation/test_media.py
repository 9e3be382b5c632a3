"""Moderators review private uploads in their queue (and only there): the group's thumbnail and
sanitised original are served to them through moderation URLs."""

from __future__ import annotations

import pytest
from django.test import Client

from bench.images import encode, photo
from moderation.models import Group
from tests.factories import api_client, make_user

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_index")]


@pytest.fixture
def private_pair(alice, upload):
    """alice's private photo and bob's public copy of it, grouped as duplicates."""
    picture = photo(41)
    private = upload(alice, encode(picture), visibility="private")
    public = upload(make_user("bob"), encode(picture.resize((400, 300))))
    (group,) = Group.objects.filter(kind=Group.Kind.DUPLICATE)
    return group, private, public


def fetch(client, url: str):
    response = client.get(url)
    body = b"".join(response.streaming_content) if response.status_code == 200 else b""
    return response, body


def test_moderators_see_a_private_image_of_their_queue(private_pair, moderator):
    group, private, public = private_pair
    client = api_client(moderator)  # a token, as an API client following the URLs would use
    body = client.get(f"/api/moderation/groups/{group.pk}/").json()
    images = {i["id"]: i for i in body["images"]}
    assert images[private.pk]["page_url"] is None  # its page stays private
    assert images[public.pk]["page_url"].endswith(f"/images/{public.pk}/")
    assert "/moderation/" not in images[public.pk]["thumbnail_url"]  # the usual URLs where they work
    assert "/moderation/images/" in images[private.pk]["thumbnail_url"]
    thumb, data = fetch(client, images[private.pk]["thumbnail_url"])
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/webp" and data[:4] == b"RIFF"
    assert "private" in thumb["Cache-Control"]
    original, data = fetch(client, images[private.pk]["url"])
    assert (
        original.status_code == 200 and original["Content-Type"] == "image/jpeg" and data[:2] == b"\xff\xd8"
    )
    # The ordinary URLs still do not serve it to the moderator.
    assert client.get(f"/api/images/{private.pk}/").status_code == 404


def test_the_queue_page_shows_the_private_thumbnail(private_pair, moderator):
    group, private, _ = private_pair
    browser = Client()
    browser.force_login(moderator)
    page = browser.get("/moderation/").content.decode()
    assert f"/moderation/images/{private.pk}/thumbnail/" in page
    assert f'href="/images/{private.pk}/"' not in page
    assert browser.get(f"/moderation/images/{private.pk}/thumbnail/").status_code == 200


def test_nobody_else_gets_them(private_pair, alice):
    _, private, _ = private_pair
    carol = make_user("carol")
    for path in (f"/moderation/images/{private.pk}/thumbnail/", f"/moderation/images/{private.pk}/original/"):
        assert Client().get(path).status_code == 403
        assert api_client(carol).get(path).status_code == 403
        assert api_client(alice).get(path).status_code == 403  # even the owner: use the usual URLs


def test_images_outside_the_queue_stay_private(alice, moderator, upload):
    lone = upload(alice, encode(photo(42)), visibility="private")
    client = api_client(moderator)
    for path in (f"/moderation/images/{lone.pk}/thumbnail/", f"/moderation/images/{lone.pk}/original/"):
        assert client.get(path).status_code == 404
    assert client.get("/moderation/images/99999999999999999999/thumbnail/").status_code == 404
