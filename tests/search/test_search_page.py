"""The search page: forms, "similar to" results and clear errors (no query worker needed)."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import PASSWORD, index, make_image, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def search_limits(settings) -> None:
    """The limits the messages below name, whatever the environment says."""
    settings.SEARCH_MAX_LIMIT = 200
    settings.SEARCH_DEFAULT_LIMIT = 50


def test_the_page_offers_both_searches() -> None:
    response = Client().get("/search/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="text-search"' in html and 'id="image-search"' in html
    assert 'id="search-error"' not in html and 'id="results"' not in html


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"q": "  "}, "Type something to search for: the q parameter is empty."),
        ({"q": "cat", "limit": "0"}, "limit must be between 1 and 200."),
        ({"q": "cat", "created_before": "2024-02-31"}, "created_before must be a date"),
        ({"similar": "abc"}, "similar must be a whole number."),
        ({"similar": "99999999999999999999999"}, "similar must be between 1 and"),
        ({"q": "x" * 1001}, "The query is too long; the limit is 1000 characters."),
    ],
)
def test_bad_searches_say_why(params: dict, message: str) -> None:
    response = Client().get("/search/", params)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_image_search_without_an_image() -> None:
    response = Client().post("/search/", {"q": "at night"})
    assert response.status_code == 400
    assert "Choose an example image to search with." in response.content.decode()


def test_no_query_worker_is_503(settings) -> None:
    settings.QUERY_QUEUE = "nobody-consumes-this-queue"
    settings.QUERY_TIMEOUT = 0.5
    response = Client().get("/search/", {"q": "a red circle"})
    assert response.status_code == 503
    assert "No search worker answered within 0.5 s." in response.content.decode()


def test_similar_results(clean_index) -> None:
    alice = make_user("alice")
    circle, square = make_image(alice, "circle", title="A circle"), make_image(alice, "square")
    secret = make_image(alice, "stripes", visibility="private")
    index(circle, square, secret)

    html = Client().get("/search/", {"similar": circle.pk}).content.decode()
    assert "Images similar to" in html and "A circle" in html
    results = html.split('id="results"', 1)[1]
    assert f'data-image-id="{square.pk}"' in results
    assert f'data-image-id="{circle.pk}"' not in results and f'data-image-id="{secret.pk}"' not in results

    assert Client().get("/search/", {"similar": secret.pk}).status_code == 404
    owner = Client()
    owner.login(username="alice", password=PASSWORD)
    assert owner.get("/search/", {"similar": secret.pk}).status_code == 200


def test_search_form_keeps_its_filters(client) -> None:
    html = client.get("/search/", {"created_after": "2024-01-01", "created_before": "2024-12-31"})
    page = html.content.decode()
    assert 'name="created_after" value="2024-01-01"' in page
    assert 'name="created_before" value="2024-12-31"' in page


def test_similar_results_page_on(clean_index) -> None:
    alice = make_user("alice")
    source, *others = [make_image(alice, kind) for kind in ("circle", "square", "stripes", "triangle")]
    index(source, *others)

    first = Client().get("/search/", {"similar": source.pk, "limit": 2}).content.decode()
    assert first.count('class="card"') == 2
    assert 'id="next-results"' in first and "offset=2" in first
    rest = Client().get("/search/", {"similar": source.pk, "limit": 2, "offset": 2}).content.decode()
    assert rest.count('class="card"') == 1 and 'id="next-results"' not in rest
    shown = {int(part.split('"')[0]) for part in (first + rest).split('data-image-id="')[1:]}
    assert shown == {image.pk for image in others}
