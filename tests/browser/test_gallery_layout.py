"""The gallery as a photo product (issue 20) in real Chromium: justified rows that keep each
picture's aspect ratio (with and without JavaScript, on a desktop and a phone), details on hover or
focus, the filters in a panel opened on demand, and a date scrubber that works from the keyboard."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

from tests.browser.test_experience import log_in
from tests.factories import PASSWORD, draw_image, image_bytes, index, make_image

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# width x height of each picture of June 2024: a 2:1 and a 1:2 among ordinary photo shapes.
SHAPES = [(800, 400), (400, 800), (1600, 1200), (600, 600), (1200, 1600), (1500, 500), (640, 480), (800, 400)]
TILES = """() => [...document.querySelectorAll('#month-2024-06 .tile')].map((t) => {
  const r = t.getBoundingClientRect();
  return { id: t.dataset.imageId, x: r.left, y: r.top, w: r.width, h: r.height };
})"""


@pytest.fixture
def library():
    alice = get_user_model().objects.create_user("alice", password=PASSWORD)
    june = datetime(2024, 6, 10, 12, tzinfo=UTC)
    images = [
        make_image(
            alice,
            data=image_bytes(draw_image("circle", size=size, color=(25 * n, 90, 160)), "JPEG"),
            title=f"shape {size[0]}x{size[1]} #{n}",
            created_at=june,
        )
        for n, size in enumerate(SHAPES)
    ]
    for month in (5, 3, 1):  # earlier months, for the scrubber
        make_image(alice, "square", created_at=datetime(2024, month, 5, tzinfo=UTC))
    make_image(alice, "triangle", created_at=datetime(2023, 11, 5, tzinfo=UTC))
    index(*images)
    return {str(image.pk): image for image in images}


def rows(tiles: list[dict]) -> list[list[dict]]:
    found: dict[int, list[dict]] = {}
    for tile in tiles:
        found.setdefault(round(tile["y"]), []).append(tile)
    return [sorted(found[y], key=lambda t: t["x"]) for y in sorted(found)]


def check_justified(page: Page, library: dict, row_height: float) -> None:
    tiles = page.evaluate(TILES)
    assert len(tiles) == len(SHAPES)
    for tile in tiles:
        image = library[tile["id"]]
        # True aspect ratios: a 2:1 picture has a 2:1 tile, a 1:2 one a 1:2 tile.
        assert tile["w"] / tile["h"] == pytest.approx(image.width / image.height, rel=0.03), image.title
    grid = page.locator("#month-2024-06 .jgrid").bounding_box()
    found = rows(tiles)
    assert len(found) >= 2
    for row in found:
        assert max(t["h"] for t in row) - min(t["h"] for t in row) <= 1.5  # one height per row
    for row in found[:-1]:  # full rows fill the width
        assert row[-1]["x"] + row[-1]["w"] == pytest.approx(grid["x"] + grid["width"], abs=2)
        assert row[0]["h"] >= row_height - 1
    # The last row keeps the row height instead of stretching across.
    assert found[-1][0]["h"] == pytest.approx(row_height, abs=1.5)


def test_rows_are_justified_and_keep_every_pictures_aspect_ratio(page: Page, live_server, library) -> None:
    log_in(page, live_server.url)
    page.goto(live_server.url + "/")
    page.wait_for_function("() => [...document.querySelectorAll('.tile img')].every((i) => i.complete)")
    check_justified(page, library, row_height=220)
    # Resized, the rows are laid out again.
    page.set_viewport_size({"width": 900, "height": 900})
    check_justified(page, library, row_height=220)
    assert page.js_errors == []


def test_on_a_phone_and_without_javascript_too(browser, live_server, library) -> None:
    for options, row_height in (
        ({"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}, 120),
        ({"viewport": {"width": 1280, "height": 900}, "java_script_enabled": False}, 220),
    ):
        context = browser.new_context(**options)
        page = context.new_page()
        page.goto(live_server.url + "/")
        check_justified(page, library, row_height)
        assert page.evaluate("document.documentElement.scrollWidth") <= options["viewport"]["width"]
        context.close()


def test_details_on_hover_or_focus_filters_on_demand_and_the_scrubber(
    page: Page, live_server, library
) -> None:
    log_in(page, live_server.url)
    page.goto(live_server.url + "/")
    first = page.locator("#gallery .tile").first
    info = first.locator(".tile-info")
    opacity = "(el) => getComputedStyle(el).opacity"
    assert info.evaluate(opacity) == "0"  # no file name, badge and link under every picture
    first.hover()
    expect(info.locator(".similar-link")).to_be_visible()
    page.wait_for_function(
        "() => getComputedStyle(document.querySelector('#gallery .tile .tile-info')).opacity === '1'"
    )
    page.mouse.move(0, 0)
    page.wait_for_function(
        "() => getComputedStyle(document.querySelector('#gallery .tile .tile-info')).opacity === '0'"
    )
    first.locator("a.thumb").focus()  # keyboard users get the same details
    page.wait_for_function(
        "() => getComputedStyle(document.querySelector('#gallery .tile .tile-info')).opacity === '1'"
    )

    # The filters wait in a panel; the grid starts right under the header.
    expect(page.locator("#filters")).to_be_hidden()
    page.locator("#filters-panel > summary").click()
    expect(page.get_by_label("Tag", exact=True)).to_be_visible()
    page.locator("#filters-panel > summary").click()
    expect(page.locator("#filters")).to_be_hidden()

    # The scrubber: a year, then its months; ↑/↓ move between them and Enter jumps.
    scrubber = page.get_by_role("navigation", name="Jump to month")
    expect(scrubber.locator(".year")).to_have_text(["2024", "2023"])
    expect(scrubber.locator("a[aria-current=true]")).to_have_text("Jun 2024")
    scrubber.locator("a").first.focus()
    page.keyboard.press("ArrowDown")
    expect(scrubber.get_by_role("link", name="Jun 2024")).to_be_focused()
    page.keyboard.press("End")
    expect(scrubber.get_by_role("link", name="Nov 2023")).to_be_focused()
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")
    expect(scrubber.get_by_role("link", name="Jan 2024")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(live_server.url + "/#month-2024-01")
    expect(page.get_by_role("heading", name="January 2024")).to_be_in_viewport()

    # Selection works as before: the box shows on hover or focus, and the bulk bar follows.
    first.hover()
    first.locator(".pick").check()
    expect(page.locator("#bulk-count")).to_have_text("1 selected")
    expect(first).to_have_class(re.compile(r"\bpicked\b"))
    assert page.js_errors == []


def test_a_click_or_tap_anywhere_on_a_picture_opens_it(browser, live_server, library) -> None:
    """The caption shown on hover covers the lower part of a tile (most of a 120 px phone tile): a
    click there must still reach the picture's link, as only the caption's own links take one."""
    for options in (
        {"viewport": {"width": 1280, "height": 900}},
        {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
    ):
        context = browser.new_context(**options)
        page = context.new_page()
        page.goto(live_server.url + "/")
        tile = page.locator("#month-2024-06 .tile").nth(1)
        image_id = tile.get_attribute("data-image-id")
        box = tile.bounding_box()
        point = {"x": box["width"] * 0.3, "y": box["height"] - 8}  # on the caption, off its links
        if options.get("has_touch"):
            tile.tap(position=point)
        else:
            tile.hover()
            tile.click(position=point)
        expect(page).to_have_url(re.compile(rf"/images/{image_id}/$"))
        context.close()
