"""Search by image is a URL: the form posts the example, the page redirects to its results
(`?example=<token>`), and reloading or paging never sends the upload again."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from search.query import examples
from tests.factories import draw_image, image_bytes, index, make_image

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("workers", "clean_index")]


def png(kind: str = "circle") -> bytes:
    return image_bytes(draw_image(kind), "PNG")


@pytest.fixture
def library(alice):
    images = [
        make_image(alice, kind, color=(30 * n, 90, 200 - 30 * n))
        for n, kind in enumerate(["circle", "square", "triangle", "stripes", "circle"])
    ]
    index(*images)
    return images


def post_example(client: Client, query: str = "", words: str = ""):
    return client.post(f"/search/{query}", {"image": _upload(), "q": words})


def _upload():
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("example.png", png(), content_type="image/png")


def token_of(response) -> str:
    found = re.search(r"example=([A-Za-z0-9_-]{22})", response["Location"])
    assert found, response["Location"]
    return found.group(1)


def test_posting_an_example_redirects_to_a_results_url_with_the_filters(library):
    client = Client()
    response = post_example(client, "?limit=2&sort=date", words="at night")
    assert response.status_code == 303
    location = response["Location"]
    assert location.startswith("/search/?") and "limit=2" in location and "sort=date" in location
    assert "q=at+night" in location
    page = client.get(location)
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count('data-result-id="') == 2
    assert f"/search/example/{token_of(response)}/" in html  # the example is previewed
    assert "offset=2" in html and f"example={token_of(response)}" in html  # more results, same example
    again = client.get(location)  # a reload: nothing uploaded again, the same results
    assert again.status_code == 200 and again.content.count(b'data-result-id="') == 2


def test_the_preview_and_the_results_belong_to_the_session_that_uploaded(library):
    owner, stranger = Client(), Client()
    token = token_of(post_example(owner))
    assert owner.get(f"/search/example/{token}/")["Content-Type"] == "image/png"
    assert stranger.get(f"/search/example/{token}/").status_code == 404
    response = stranger.get(f"/search/?example={token}")
    assert response.status_code == 400 and "choose it again" in response.content.decode()
    assert Client().get("/search/?example=../../etc/passwd").status_code == 400


def test_a_bad_upload_is_refused_on_the_page(library):
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = Client().post("/search/", {"image": SimpleUploadedFile("x.png", b"not an image")})
    assert response.status_code == 400 and "x.png" in response.content.decode()


def test_old_examples_are_swept_and_a_session_keeps_its_newest(library, settings):
    client = Client()
    tokens = [token_of(post_example(client)) for _ in range(examples.PER_SESSION + 1)]
    assert client.get(f"/search/?example={tokens[0]}").status_code == 400  # pushed out
    assert client.get(f"/search/?example={tokens[-1]}").status_code == 200
    import time

    assert examples.sweep(now=time.time() + examples.EXAMPLE_TTL + 1) >= examples.PER_SESSION
    assert client.get(f"/search/?example={tokens[-1]}").status_code == 400
