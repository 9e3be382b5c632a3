"""End to end in a real browser: headless Chromium against the live server, with the real Redis,
Milvus Lite server and Celery workers behind it.

Set BROWSER_SHOTS=/some/folder to keep screenshots of the gallery and the search results.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.factories import draw_image, image_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

INDEXING_TIMEOUT_MS = 60_000
PASSWORD = "Corr3ct-horse-battery"
KINDS = ("circle", "square", "stripes")
THUMBNAILS_LOADED = """() => [...document.querySelectorAll('#gallery .thumb img')]
    .every(img => img.complete && img.naturalWidth > 0)"""


def shot(page: Page, name: str) -> None:
    folder = os.environ.get("BROWSER_SHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def nav(page: Page):
    return page.locator("header nav")


def card_titles(page: Page, grid: str) -> list[str]:
    return page.locator(f"{grid} .card .title").all_inner_texts()


def card_ids(page: Page, grid: str) -> list[str]:
    return [card.get_attribute("data-image-id") for card in page.locator(f"{grid} .card").all()]


def scores(page: Page, grid: str = "#results") -> list[float]:
    texts = page.locator(f"{grid} .score").all_inner_texts()
    assert texts, "no similarity scores shown"
    return [float(t) for t in texts]


def follows_the_order(page: Page, grid: str = "#results") -> bool:
    """Within each signal that ranked the results (words, fused, semantic), the shown score never
    rises down the list."""
    signals = page.locator(f"{grid} .ranked-by").all_inner_texts()
    shown = list(zip(signals, scores(page, grid), strict=True))
    return all(
        [v for s, v in shown if s == signal] == sorted((v for s, v in shown if s == signal), reverse=True)
        for signal in set(signals)
    )


def log_in(page: Page, username: str, password: str) -> None:
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.locator("main form").get_by_role("button", name="Log in").click()


@pytest.fixture
def pictures(tmp_path) -> dict[str, Path]:
    paths = {}
    for kind in KINDS:
        paths[kind] = tmp_path / f"{kind}.png"
        paths[kind].write_bytes(image_bytes(draw_image(kind)))
    return paths


def test_sign_up_upload_search_and_log_in_again(page: Page, live_server, workers, clean_index, pictures):
    base = live_server.url

    # 1. Sign up from the home page and land on the gallery, logged in.
    page.goto(base + "/")
    nav(page).get_by_role("link", name="Sign up").click()
    expect(page.get_by_role("heading", name="Sign up")).to_be_visible()
    page.get_by_label("Username").fill("alice")
    password = page.get_by_label(re.compile(r"^Password:?$"))
    confirmation = page.get_by_label("Password confirmation")
    password.fill(PASSWORD)
    confirmation.fill(PASSWORD + "x")  # a typo first: the form says so and keeps the username
    page.get_by_role("button", name="Create account").click()
    expect(page.locator(".errorlist")).to_contain_text("didn’t match")
    expect(page.get_by_label("Username")).to_have_value("alice")
    shot(page, "signup-error")
    password.fill(PASSWORD)
    confirmation.fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(base + "/")
    expect(page.get_by_role("heading", name="Gallery")).to_be_visible()
    expect(nav(page).get_by_role("button", name="Log out alice")).to_be_visible()

    # 2. Upload three pictures at once; they show as pending, then turn indexed without a reload.
    nav(page).get_by_role("link", name="Upload").click()
    expect(page.get_by_role("heading", name="Upload images")).to_be_visible()
    page.locator("#upload-form input[name=files]").set_input_files([str(p) for p in pictures.values()])
    page.evaluate("window.__sameDocument = true")
    # Sent as soon as they are chosen, from the page itself: each file gets its result, pending
    # first (indexing runs in the worker).
    done = page.locator('#upload-queue li[data-state="done"]')
    expect(done).to_have_count(3, timeout=30_000)  # three decodes and stores on a busy machine
    expect(page.locator("#upload-summary")).to_have_text("3 uploaded")
    expect(done.locator(".status")).to_have_text(["indexed"] * 3, timeout=INDEXING_TIMEOUT_MS)
    assert page.evaluate("window.__sameDocument") is True, "the page was reloaded"
    page.get_by_role("link", name="See them in My images").click()
    expect(page).to_have_url(re.compile(r"/\?owner=me$"))
    expect(page.get_by_role("heading", name="My images")).to_be_visible()
    cards = page.locator("#gallery .card")
    expect(cards).to_have_count(3)
    assert sorted(card_titles(page, "#gallery")) == sorted(f"{k}.png" for k in KINDS)
    page.evaluate("window.__sameDocument = true")

    expect(page.locator("#gallery .card .status")).to_have_text(["indexed"] * 3, timeout=INDEXING_TIMEOUT_MS)
    expect(page.locator("#gallery .card .thumb img")).to_have_count(3)
    page.wait_for_function(THUMBNAILS_LOADED)
    expect(page.locator("#gallery .card .similar-link")).to_have_count(3)
    assert page.evaluate("window.__sameDocument") is True, "the page was reloaded"
    ids = dict(zip(card_titles(page, "#gallery"), card_ids(page, "#gallery"), strict=True))
    shot(page, "gallery")

    # 3. Text search from the top bar: ranked results with visible scores, best first.
    page.locator(".topsearch input[name=q]").fill("a red circle on a grey background")
    page.locator(".topsearch").get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"/search/\?q=a\+red\+circle"))
    expect(page.get_by_role("heading", name=re.compile(r"^3 results for"))).to_be_visible()
    expect(page.locator("#results .card")).to_have_count(3)
    expect(page.locator("#results .score")).to_have_count(3)
    assert follows_the_order(page), page.locator("#results .rank").all_inner_texts()
    shot(page, "search-text")

    # 4. Search by an example image: the same picture comes first with a score of about 1.
    page.locator("#image-search input[name=image]").set_input_files(str(pictures["square"]))
    page.get_by_role("button", name="Search by image").click()
    expect(page.locator("#results .card").first.locator(".title")).to_have_text("square.png")
    first = page.locator("#results .card").first
    assert first.get_attribute("data-image-id") == ids["square.png"]
    expect(first.locator("a.thumb")).to_have_attribute("href", f"/images/{ids['square.png']}/")
    image_scores = scores(page)
    assert image_scores[0] == pytest.approx(1.0, abs=1e-3), image_scores
    assert image_scores == sorted(image_scores, reverse=True), image_scores
    shot(page, "search-image")

    # 5. "find similar" on the square: the other two pictures, never the square itself.
    first.get_by_role("link", name="find similar").click()
    expect(page).to_have_url(re.compile(rf"/search/\?similar={ids['square.png']}$"))
    expect(page.locator(".similar-to")).to_contain_text("Images similar to square.png")
    expect(page.locator("#results .card")).to_have_count(2)
    assert sorted(card_titles(page, "#results")) == ["circle.png", "stripes.png"]
    assert ids["square.png"] not in card_ids(page, "#results")
    similar_scores = scores(page)
    assert similar_scores == sorted(similar_scores, reverse=True), similar_scores

    # 6. Log out, then back in through the Log in page.
    nav(page).get_by_role("button", name="Log out alice").click()
    expect(page).to_have_url(base + "/")
    expect(nav(page).get_by_role("link", name="Log in")).to_be_visible()
    expect(nav(page).get_by_role("button", name=re.compile("Log out"))).to_have_count(0)
    nav(page).get_by_role("link", name="Log in").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    log_in(page, "alice", PASSWORD)
    expect(page).to_have_url(base + "/")
    expect(nav(page).get_by_role("button", name="Log out alice")).to_be_visible()
    expect(page.locator("#gallery .card")).to_have_count(3)

    assert page.js_errors == []


def test_anonymous_visitor_sees_gallery_and_must_log_in_to_upload(
    page: Page, live_server, workers, clean_index
):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user("bob", password=PASSWORD)
    base = live_server.url

    page.goto(base + "/")
    expect(page.get_by_role("heading", name="Gallery")).to_be_visible()
    expect(page.locator("#model-banner")).to_contain_text("Demo model")
    expect(page.locator("#model-banner")).to_contain_text("CLIP_MODEL=demo")
    expect(nav(page).get_by_role("link", name="Log in")).to_be_visible()
    expect(nav(page).get_by_role("link", name="Upload")).to_have_count(0)

    # The upload page asks for a log-in and returns there afterwards.
    page.goto(base + "/upload/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/upload/$"))
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    shot(page, "login")
    log_in(page, "bob", PASSWORD)
    expect(page).to_have_url(base + "/upload/")
    expect(page.get_by_role("heading", name="Upload images")).to_be_visible()
    shot(page, "upload")

    assert page.js_errors == []
