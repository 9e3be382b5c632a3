"""Searching with several signals in headless Chromium: the query help by the search box, a word
read inside an image found first and marked, "more like this" searching again with the image as an
example, and a bad query explained in place."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.factories import index, make_image, make_user, read_words

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_words_in_images_are_found_marked_and_fed_back(page: Page, live_server, workers, clean_index) -> None:
    alice = make_user("alice")
    sign = make_image(alice, "square", title="Trip")
    others = [make_image(alice, kind) for kind in ("circle", "stripes", "triangle")]
    index(sign, *others)
    read_words(sign, "欢迎光临杭州西湖")

    page.goto(live_server.url + "/search/")
    page.locator("#search-filters > summary").click()  # the query help sits with the filters
    help_box = page.locator("#query-help")
    expect(help_box.locator("ul")).to_be_hidden()
    help_box.locator("summary").click()
    expect(help_box).to_contain_text("image:42")

    page.locator(".topsearch input[name=q]").fill("西湖")
    page.locator(".topsearch").get_by_role("button", name="Search").click()
    first = page.locator("#results .result").first
    expect(first).to_have_attribute("data-result-id", str(sign.pk))
    expect(first.locator(".ocr-snippet mark")).to_have_text("西湖")
    expect(first.locator(".match-ocr")).to_have_text("ocr")

    page.locator(f'.result[data-result-id="{others[0].pk}"] .more-like').click()
    expect(page).to_have_url(re.compile(rf"q=%E8%A5%BF%E6%B9%96\+%2B\+image%3A{others[0].pk}"))
    expect(page.locator(".topsearch input[name=q]")).to_have_value(f"西湖 + image:{others[0].pk}")
    shown = page.locator("#results .result")
    expect(shown.first).to_be_visible()
    assert str(others[0].pk) not in shown.evaluate_all("els => els.map(e => e.dataset.resultId)")

    page.locator(".topsearch input[name=q]").fill('"unclosed')
    page.locator(".topsearch").get_by_role("button", name="Search").click()
    expect(page.locator("#search-error")).to_contain_text("A quoted phrase is not closed")
    assert page.js_errors == []
