"""Search by a region in real Chromium: on an image page a box dragged over part of the picture (or
placed with the keyboard) searches by that part; the results address carries the region."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest
from django.contrib.auth import get_user_model
from PIL import Image as PILImage
from playwright.sync_api import Page, expect

from search.query.regions import parse_region
from tests.browser.test_experience import watch_console
from tests.factories import PASSWORD, draw_image, image_bytes, index, make_image

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def scene():
    """A picture of a red circle (left) beside blue stripes (right); the stripes alone; others."""
    alice = get_user_model().objects.create_user("alice", password=PASSWORD)
    both = PILImage.new("RGB", (640, 240), (240, 240, 240))
    both.paste(draw_image("circle", size=(320, 240)), (0, 0))
    stripes = draw_image("stripes", size=(320, 240), color=(30, 30, 200))
    both.paste(stripes, (320, 0))
    source = make_image(alice, data=image_bytes(both, "PNG"), title="scene")
    alone = make_image(alice, data=image_bytes(stripes, "PNG"), title="stripes alone")
    kinds = ("square", "triangle")
    others = [make_image(alice, kind, color=(40 * n, 150, 90)) for n, kind in enumerate(kinds)]
    index(source, alone, *others)
    return source, alone


def region_in(url: str):
    values = parse_qs(urlparse(url).query)
    return values["similar"][0], parse_region(values["region"][0])


def test_a_box_dragged_over_the_picture_searches_by_that_part(
    page: Page, live_server, workers, clean_index, scene
) -> None:
    source, alone = scene
    console = watch_console(page)
    page.goto(f"{live_server.url}/images/{source.pk}/")
    page.get_by_role("button", name="Search a region").click()
    expect(page.locator("#region-box")).to_be_focused()
    picture = page.locator("#viewer-image").bounding_box()
    # Drag over the right half (the stripes), from just inside its top-left to its bottom-right.
    left, top = picture["x"] + picture["width"] * 0.52, picture["y"] + picture["height"] * 0.04
    page.mouse.move(left, top)
    page.mouse.down()
    page.mouse.move(left + picture["width"] * 0.2, top + picture["height"] * 0.5, steps=4)
    page.mouse.move(picture["x"] + picture["width"] * 0.98, picture["y"] + picture["height"] * 0.96, steps=4)
    page.mouse.up()
    page.get_by_role("button", name="Search this region").click()

    expect(page).to_have_url(re.compile(r"/search/\?.*region="), timeout=30_000)
    similar, region = region_in(page.url)
    assert similar == str(source.pk)
    assert region.x == pytest.approx(0.52, abs=0.02) and region.y == pytest.approx(0.04, abs=0.02)
    assert region.w == pytest.approx(0.46, abs=0.02) and region.h == pytest.approx(0.92, abs=0.02)
    expect(page.locator("#region-note")).to_be_visible()
    first = page.locator("[data-result-id]").first
    expect(first).to_have_attribute("data-result-id", str(alone.pk))  # the stripes, found by their part
    expect(page.locator(f'[data-result-id="{source.pk}"]')).to_have_count(0)
    # The address is the search: a reload shows the same results.
    page.reload()
    expect(page.locator("[data-result-id]").first).to_have_attribute("data-result-id", str(alone.pk))
    assert page.js_errors == [] and console == []


def test_the_box_works_from_the_keyboard(page: Page, live_server, workers, clean_index, scene) -> None:
    source, alone = scene
    page.goto(f"{live_server.url}/images/{source.pk}/")
    expect(page.locator("#viewer")).to_have_attribute("data-ready", "true")
    toggle = page.get_by_role("button", name="Search a region")
    toggle.focus()
    page.keyboard.press("Enter")
    box = page.locator("#region-box")
    expect(box).to_be_focused()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    # The box starts over the middle (0.25, 0.25, 0.5 x 0.5); steps are 2% of the picture.
    page.keyboard.press("Shift+ArrowLeft")  # narrower: 0.48 wide
    for _ in range(14):
        page.keyboard.press("ArrowRight")  # as far right as it goes: it stops at the edge
    page.keyboard.press("Shift+ArrowDown")
    for _ in range(3):
        page.keyboard.press("ArrowUp")
    status = re.compile(r"48% wide and 52% high, 52% from the left, 19% from the top")
    expect(page.locator("#region-status")).to_have_text(status)
    # The page's own keys (← → go to neighbours, Esc leaves) do not fire while the box has them.
    assert f"/images/{source.pk}/" in page.url
    page.keyboard.press("Escape")
    expect(box).to_be_hidden()
    expect(toggle).to_be_focused()
    assert f"/images/{source.pk}/" in page.url
    page.keyboard.press("Enter")  # again: the box is where it was left
    expect(box).to_be_focused()
    page.keyboard.press("Enter")  # searches: the server crops and encodes (slow on a busy machine)
    expect(page).to_have_url(re.compile(r"/search/\?.*region="), timeout=30_000)
    _, region = region_in(page.url)
    assert (region.x, region.w) == (pytest.approx(0.52), pytest.approx(0.48))
    assert (region.y, region.h) == (pytest.approx(0.19), pytest.approx(0.52))
    expect(page.locator("[data-result-id]").first).to_have_attribute("data-result-id", str(alone.pk))


def test_a_tap_on_a_phone_moves_the_box(browser, live_server, workers, clean_index, scene) -> None:
    source, _ = scene
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(f"{live_server.url}/images/{source.pk}/")
    page.get_by_role("button", name="Search a region").tap()
    box = page.locator("#region-box")
    expect(box).to_be_visible()
    picture = page.locator("#viewer-image").bounding_box()
    # Outside the box (it starts over the middle half): the box centres there, within the picture.
    page.tap("#viewer .region-layer", position={"x": picture["width"] * 0.7, "y": picture["height"] * 0.9})
    value = page.locator("#region-form input[name=region]").input_value()
    region = parse_region(value)
    assert region.x + region.w / 2 == pytest.approx(0.7, abs=0.02)  # centred where the finger went
    assert region.y + region.h == pytest.approx(1.0)  # as low as it goes
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
    context.close()
