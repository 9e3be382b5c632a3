"""The search page: forms, "similar to" results and clear errors (no query worker needed)."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import PASSWORD, index, make_image, make_user, read_words

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
    # The panel's fields belong to the header's search box, so a search from it keeps them.
    assert 'name="created_after" form="site-search" value="2024-01-01"' in page
    assert 'name="created_before" form="site-search" value="2024-12-31"' in page
    assert '<form class="topsearch" id="site-search"' in page
    # Each filter in use is a chip whose link is the address without it.
    assert 'data-filter="created_after">From 2024-01-01<a href="?created_before=2024-12-31"' in page
    assert 'data-filter="created_before">To 2024-12-31<a href="?created_after=2024-01-01"' in page


def test_chips_name_each_filter_in_use_and_nothing_else(client) -> None:
    params = {
        "q": "cat",
        "mode": "hybrid",
        "sort": "date",
        "tags": "beach",
        "has_text": "true",
        "offset": "50",
    }
    page = client.get("/search/", params).content.decode()
    chips = page.split('id="active-filters"', 1)[1].split("</ul>", 1)[0]
    assert chips.count('class="chip"') == 3  # mode=hybrid is the default; q and offset are no filters
    rest = "?q=cat&amp;mode=hybrid&amp;tags=beach&amp;has_text=true"
    assert f'data-filter="sort">Newest first<a href="{rest}"' in chips
    assert "Tags: beach" in chips and "Has text" in chips
    assert 'id="active-filters"' not in client.get("/search/", {"q": "cat"}).content.decode()


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


def test_the_query_help_sits_by_the_search_box() -> None:
    html = Client().get("/search/").content.decode()
    help_text = html.split('id="query-help"', 1)[1].split("</details>", 1)[0]
    for example in ("image:42", "2:sunset + clouds", "beach - people", '"red car"'):
        assert example.replace('"', "&quot;") in help_text or example in help_text


def test_bad_query_syntax_is_shown_in_place() -> None:
    response = Client().get("/search/", {"q": '"red car'})
    assert response.status_code == 400
    page = response.content.decode()
    assert "A quoted phrase is not closed" in page and 'id="text-search"' in page


def test_text_matches_are_marked_with_feedback_links(clean_index) -> None:
    alice = make_user("alice")
    sign = make_image(alice, "square", title="Lake trip", tags=["holiday"])
    other = make_image(alice, "circle", title="Lake <b>view</b>")
    index(sign, other)
    read_words(sign, "欢迎光临杭州西湖 " + "lorem ipsum " * 30)
    html = Client().get("/search/", {"q": "西湖", "mode": "text"}).content.decode()
    results = html.split('id="results"', 1)[1]
    assert f'data-result-id="{sign.pk}"' in results and f'data-result-id="{other.pk}"' not in results
    assert "<mark>西湖</mark>" in results and 'class="badge match match-ocr"' in results
    more = f"?q=%E8%A5%BF%E6%B9%96+%2B+image%3A{sign.pk}&amp;mode=hybrid"  # examples need vectors
    assert f'class="more-like" href="{more}"' in results
    assert f"image%3A{sign.pk}" in results.split('class="less-like" href="', 1)[1]

    html = Client().get("/search/", {"q": "lake", "mode": "text"}).content.decode()
    assert "<mark>Lake</mark> &lt;b&gt;<mark>view</mark>" not in html  # only the query's words
    assert "<mark>Lake</mark> &lt;b&gt;view&lt;/b&gt;" in html  # escaped, never injected
    assert 'class="badge match match-title"' in html


def test_the_image_page_shows_the_words_read_in_it(clean_index) -> None:
    alice = make_user("alice")
    image = make_image(alice, "square")
    index(image)
    assert "not read yet" in Client().get(f"/images/{image.pk}/").content.decode()
    read_words(image, "OPEN <24> HOURS")
    page = Client().get(f"/images/{image.pk}/").content.decode()
    assert '<pre class="ocr-text">OPEN &lt;24&gt; HOURS</pre>' in page
