"""Issue 20 in headless Chromium: the search page is one box with folded filters and results in
the first screen of a phone, no badge that is not true, file names matched by their words; the
upload page sends files as soon as they are added, edits each one in place and asks before leaving
while files are on their way."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, Route, expect

from ingestion.models import Image
from tests.browser.test_experience import drop, log_in, payload, watch_console
from tests.factories import PASSWORD, draw_image, image_bytes, index, make_image

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


def _library():
    alice = get_user_model().objects.create_user("alice", password=PASSWORD)
    # Four different drawings: copies would be collapsed into one result.
    unrelated = [make_image(alice, "stripes", title="Flag"), make_image(alice, "triangle", title="Tent")]
    crops = [make_image(alice, "circle"), make_image(alice, "square")]
    for i, crop in enumerate(crops):
        Image.objects.filter(pk=crop.pk).update(original_filename=f"coffee_crop{15 + i}.jpg", title="")
    index(*unrelated, *crops)
    return alice, unrelated, crops


def test_on_a_phone_the_first_result_is_in_the_first_screen_and_no_badge_is_false(
    browser, live_server, workers, clean_index
) -> None:
    _, _, crops = _library()
    context = browser.new_context(**PHONE)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(live_server.url + "/")
    # The header keeps its Gallery link on a phone.
    expect(page.locator("header nav").get_by_role("link", name="Gallery", exact=True)).to_be_visible()
    page.locator(".topsearch input[name=q]").fill("coffee")
    page.locator(".topsearch input[name=q]").press("Enter")
    expect(page).to_have_url(re.compile(r"/search/\?q=coffee$"))

    results = page.locator("#results .result")
    # Whole words of the file names: both crops first, ahead of the unrelated pictures.
    firsts = results.evaluate_all("els => els.slice(0, 2).map(e => Number(e.dataset.resultId))")
    assert sorted(firsts) == sorted(c.pk for c in crops)
    expect(results.first.locator(".ranked-by")).to_have_text("words")
    expect(results.first.locator(".match-filename")).to_be_visible()
    # The first result is wholly in the first screen: the filters are folded away.
    thumb = results.first.locator(".thumb").bounding_box()
    assert thumb is not None and thumb["y"] + thumb["height"] <= 844, thumb
    expect(page.locator("#text-search")).to_be_hidden()
    # No card says "duplicate" (the card printed the search view's kind as "text duplicate").
    expect(page.locator("#results")).not_to_contain_text("duplicate")
    expect(page.locator("#results .badge[class*='kind-']")).to_have_count(0)
    # The shown scores follow the order within each signal that ranked the results.
    shown = results.evaluate_all(
        "els => els.map(e => [e.querySelector('.ranked-by').textContent, "
        "Number(e.querySelector('.score').textContent)])"
    )
    for signal in {s for s, _ in shown}:
        values = [v for s, v in shown if s == signal]
        assert values == sorted(values, reverse=True), shown
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert errors == []
    context.close()


def test_filters_unfold_on_demand_and_show_as_removable_chips(
    page: Page, live_server, workers, clean_index
) -> None:
    _library()
    log_in(page, live_server.url)
    page.goto(live_server.url + "/search/?q=coffee")
    expect(page.locator("#active-filters")).to_have_count(0)
    expect(page.locator("#text-search")).to_be_hidden()
    page.locator("#search-filters > summary").click()
    page.locator("#text-search select[name=sort]").select_option("date")
    page.locator("#text-search input[name=owner]").check()
    page.locator("#text-search").get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"q=coffee.*sort=date.*owner=me"))
    chips = page.locator("#active-filters .chip")
    expect(chips).to_have_text(["Newest first×", "Only mine×"])
    # The header's box is the one box: a new search keeps the filters.
    page.locator(".topsearch input[name=q]").fill("tent")
    page.locator(".topsearch input[name=q]").press("Enter")
    expect(page).to_have_url(re.compile(r"q=tent.*sort=date.*owner=me"))
    page.get_by_role("link", name="Remove the filter Newest first").click()
    expect(page).to_have_url(re.compile(r"\?q=tent&.*owner=me$"))
    expect(chips).to_have_text(["Only mine×"])
    assert page.js_errors == []


def test_files_upload_as_soon_as_they_are_added_and_are_edited_in_place(
    page: Page, live_server, workers, clean_index
) -> None:
    get_user_model().objects.create_user("alice", password=PASSWORD)
    console = watch_console(page, expected_statuses=(400,))
    log_in(page, live_server.url)
    page.goto(live_server.url + "/upload/")
    expect(page.locator("#upload-button")).to_be_hidden()  # no button at the end of a long list
    expect(page.get_by_text("Title (for a single image)")).to_have_count(0)
    page.get_by_label("Tags for all").fill("holiday")
    drop(
        page,
        payload("circle.png", image_bytes(draw_image("circle"), "PNG")),
        payload("notes.png", b"these are words, not pixels"),
    )
    expect(page.locator('#upload-queue li[data-state="done"]')).to_have_count(1)
    expect(page.locator('#upload-queue li[data-state="failed"]')).to_have_count(1)
    circle = Image.objects.get(original_filename="circle.png")
    assert circle.tag_names() == ["holiday"]

    # Chosen with the picker: on its way at once too.
    square_png = image_bytes(draw_image("square"), "PNG")
    page.locator("#file-input").set_input_files(
        files=[{"name": "square.png", "mimeType": "image/png", "buffer": square_png}]
    )
    expect(page.locator('#upload-queue li[data-state="done"]')).to_have_count(2)
    expect(page.locator("#upload-summary")).to_have_text("2 uploaded · 1 refused")

    # Each result is edited in place, saved with PATCH.
    page.get_by_label("Title for square.png").fill("A square")
    page.get_by_label("Title for square.png").press("Enter")
    row = page.locator("#upload-queue li").filter(has_text="square.png")
    expect(row.locator(".file-saved")).to_have_text("Title saved")
    page.get_by_label("Tags for square.png").fill("geometry, holiday")
    page.get_by_label("Visibility of square.png").focus()  # leaving the field saves it
    expect(row.locator(".file-saved")).to_have_text("Tags saved")
    page.get_by_label("Visibility of square.png").select_option("private")
    expect(row.locator(".file-saved")).to_have_text("Visibility saved")
    square = Image.objects.get(original_filename="square.png")
    assert (square.title, square.visibility) == ("A square", "private")
    assert square.tag_names() == ["geometry", "holiday"]
    expect(page.locator("#upload-bar")).to_be_in_viewport()
    assert page.js_errors == [] and console == []


def test_leaving_while_files_are_on_their_way_asks_first(page: Page, live_server) -> None:
    get_user_model().objects.create_user("alice", password=PASSWORD)
    log_in(page, live_server.url)
    page.goto(live_server.url + "/upload/")
    held: list[Route] = []
    page.route("**/api/images/", lambda route: held.append(route))  # the upload never answers
    page.get_by_label("Tags for all").click()  # a page the person touched may ask before leaving
    drop(page, payload("circle.png", image_bytes(draw_image("circle"), "PNG")))
    expect(page.locator('#upload-queue li[data-state="uploading"]')).to_have_count(1)
    asked: list[str] = []

    def answer(dialog) -> None:
        asked.append(dialog.type)
        dialog.dismiss()

    page.on("dialog", answer)
    page.locator("header nav").get_by_role("link", name="Gallery", exact=True).click()
    page.wait_for_timeout(0)  # lets the dialog event through
    expect(page.locator("#upload-queue li")).to_have_count(1)
    assert asked == ["beforeunload"] and page.url.endswith("/upload/")
    for route in held:
        route.abort()


def test_a_phone_is_not_told_to_paste_with_ctrl_v(browser, live_server) -> None:
    get_user_model().objects.create_user("alice", password=PASSWORD)
    context = browser.new_context(**PHONE)
    page = context.new_page()
    log_in(page, live_server.url)
    page.goto(live_server.url + "/upload/")
    expect(page.locator("#choose-files")).to_be_visible()
    expect(page.get_by_text("Ctrl+V")).to_be_hidden()
    expect(page.locator("header nav").get_by_role("link", name="Gallery", exact=True)).to_be_visible()
    context.close()
