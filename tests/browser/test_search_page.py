"""The search page in real Chromium: a search by a dropped example image keeps the filters and sort
of the search by words and has a URL (a reload sends nothing again), and a very long query is cut by
the form before it reaches the server."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

from ingestion.models import Image
from search.forms import MAX_QUERY_CHARS
from tests.browser.test_experience import DROP, log_in, payload, watch_console
from tests.factories import PASSWORD, draw_image, image_bytes, index, make_image

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_search_by_a_dropped_image_keeps_the_filters(page: Page, live_server, workers, clean_index) -> None:
    alice = get_user_model().objects.create_user("alice", password=PASSWORD)
    bob = get_user_model().objects.create_user("bob", password=PASSWORD)
    circle = image_bytes(draw_image("circle"), "PNG")
    tagged = make_image(alice, data=circle, title="My round circle", tags=["round"])
    make_image(alice, data=image_bytes(draw_image("circle", color=(200, 40, 30)), "PNG"), title="Untagged")
    theirs = image_bytes(draw_image("circle", color=(190, 40, 40)), "PNG")
    make_image(bob, data=theirs, title="Bob's", tags=["round"])
    index(*Image.objects.all())
    console = watch_console(page)
    log_in(page, live_server.url)

    page.goto(live_server.url + "/search/")
    # The picker offers iPhone photos too (the server reads HEIC and AVIF, as uploads do).
    expect(page.locator("#image-search input[name=image]")).to_have_attribute(
        "accept", "image/*,.heic,.heif,.avif"
    )
    page.locator("#search-filters > summary").click()  # the filters are folded until asked for
    page.locator("#text-search input[name=tags]").fill("round")
    page.locator("#text-search input[name=owner]").check()
    page.evaluate(DROP, ["#image-search", [payload("example.png", circle)]])
    expect(page.locator("#image-search .example-preview")).to_be_visible()
    page.locator("#image-search input[name=q]").fill("circle")
    page.get_by_role("button", name="Search by image").click()

    cards = page.locator("#results .card")
    expect(cards).to_have_count(1)  # hers, tagged "round": not her untagged one, not bob's
    expect(cards.first).to_have_attribute("data-image-id", str(tagged.pk))
    # The filters stay on the page, for the next search.
    expect(page.locator("#text-search input[name=tags]")).to_have_value("round")
    expect(page.locator("#text-search input[name=owner]")).to_be_checked()
    # The words stay with the image they were added to, not in the boxes of a search by words.
    expect(page.locator("#image-search input[name=q]")).to_have_value("circle")
    expect(page.locator(".topsearch input[name=q]")).to_have_value("")
    # The results have a URL: a reload shows them again without sending the upload, and the
    # example is shown beside the form.
    assert "example=" in page.url and "tags=round" in page.url
    expect(page.locator("#example-shown img")).to_be_visible()
    with page.expect_navigation() as reload:
        page.reload()
    assert reload.value.request.method == "GET"
    expect(cards).to_have_count(1)

    # A HEIC example (what an iPhone sends) finds the same image.
    heic = image_bytes(draw_image("circle"), "HEIF")
    page.locator("#image-search input[name=image]").set_input_files(
        files=[{"name": "example.heic", "mimeType": "image/heic", "buffer": heic}]
    )
    page.get_by_role("button", name="Search by image").click()
    expect(cards).to_have_count(1)
    expect(cards.first).to_have_attribute("data-image-id", str(tagged.pk))
    assert page.js_errors == [] and console == []


def test_a_very_long_query_is_cut_by_the_form(page: Page, live_server, workers) -> None:
    console = watch_console(page)
    page.goto(live_server.url + "/search/")
    page.locator("#image-search-tool > summary").click()  # the words added to an example image
    for box in (page.locator("#image-search input[name=q]"), page.locator(".topsearch input[name=q]")):
        box.fill("sunset " * 800)  # 5,600 characters: the server's own limit is MAX_QUERY_CHARS
        assert len(box.input_value()) == MAX_QUERY_CHARS
    with page.expect_navigation() as navigation:
        page.locator(".topsearch input[name=q]").press("Enter")
    assert navigation.value.status == 200  # not the server's "URI Too Long", not a form error
    expect(page.locator("#search-error")).to_have_count(0)
    assert page.js_errors == [] and console == []
