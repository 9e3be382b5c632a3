"""Responsive thumbnails in real Chromium: the grid picks the small size on a plain screen and the
medium one on a retina screen, nothing shifts while they load, and the image page shows the
preview, never the original, until full screen is zoomed in."""

from __future__ import annotations

import pytest
from django.core.files.storage import default_storage
from playwright.sync_api import expect

from ingestion.models import Image
from ingestion.renditions import NAMES
from ingestion.storage import rendition_name
from tests.factories import draw_image, image_bytes, index, make_image, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Every layout shift the page has had, and the images it fetched with their sizes on the wire.
LAYOUT_SHIFT = """() => new Promise((done) => {
  let total = 0;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) if (!e.hadRecentInput) total += e.value;
  }).observe({ type: "layout-shift", buffered: true });
  setTimeout(() => done(total), 300);
})"""
# Images without their size would push the grid by whole card heights (a shift score of 0.1 or
# more); a header indicator changing its text moved the page by 0.009 once: allow that much.
MAX_SHIFT = 0.02
FETCHED = """() => performance.getEntriesByType("resource")
  .filter((e) => e.name.includes("/media/images/"))
  .map((e) => ({ url: e.name, bytes: e.encodedBodySize }))"""


@pytest.fixture
def photos(clean_index) -> list[Image]:
    owner = make_user("alice")
    shapes = [
        ("circle", (1600, 1200)),
        ("square", (1200, 1600)),
        ("stripes", (3000, 1000)),
        ("triangle", (1400, 1400)),
    ]
    images = [
        make_image(owner, data=image_bytes(draw_image(kind, size=size, color=(30 * i, 120, 200)), "JPEG"))
        for i, (kind, size) in enumerate(shapes)
    ]
    index(*images)
    return images


def grid_sources(page) -> list[dict]:
    page.wait_for_function(
        "() => [...document.querySelectorAll('.card .thumb img')]"
        ".every((i) => i.complete && i.naturalWidth > 0)"
    )
    return page.eval_on_selector_all(
        ".card .thumb img",
        "(imgs) => imgs.map((i) => ({ src: i.currentSrc, srcset: i.srcset,"
        " width: i.getAttribute('width'), height: i.getAttribute('height') }))",
    )


@pytest.mark.parametrize(("scale", "size"), [(1, "small"), (2, "medium")])
def test_the_grid_loads_the_size_the_screen_needs_without_layout_shift(
    browser, live_server, photos, scale: int, size: str
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, device_scale_factor=scale)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(live_server.url + "/")
    sources = grid_sources(page)
    assert len(sources) == len(photos)
    for source in sources:
        assert source["src"].endswith(f"?size={size}"), source
        assert source["width"] and source["height"] and "w," in source["srcset"]
    assert page.evaluate(LAYOUT_SHIFT) < MAX_SHIFT
    fetched = page.evaluate(FETCHED)
    assert not [f for f in fetched if "original" in f["url"] or f["url"].endswith("thumbnail.webp")]
    assert not errors
    context.close()


def test_the_image_page_shows_the_preview_and_zooming_loads_the_original(
    browser, live_server, photos
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    image = photos[0]
    page.goto(f"{live_server.url}/images/{image.pk}/")
    stage = page.locator("#viewer-image")
    expect(stage).to_be_visible()
    page.wait_for_function("() => document.getElementById('viewer-image').complete")
    assert stage.evaluate("(i) => i.currentSrc").endswith("?size=preview")
    assert page.evaluate(LAYOUT_SHIFT) < MAX_SHIFT

    page.locator("#viewer-full").click()
    big = page.locator("#lightbox img")
    expect(big).to_have_attribute("src", image.sized_url("preview"))
    assert not [f for f in page.evaluate(FETCHED) if f["url"].endswith("/original")]
    page.locator("[data-zoom=in]").click()
    expect(big).to_have_attribute("src", image.file_url)  # the original, once zoomed in and loaded
    context.close()


def test_an_image_indexed_before_the_sizes_existed_still_shows_in_the_grid(
    browser, live_server, photos
) -> None:
    for image in photos:
        for size in NAMES:
            default_storage.delete(rendition_name(image.sha256, size))
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(live_server.url + "/")
    grid_sources(page)
    widths = page.eval_on_selector_all(".card .thumb img", "(imgs) => imgs.map((i) => i.naturalWidth)")
    assert all(0 < width <= 384 for width in widths)  # the thumbnail, standing in
    context.close()


def test_on_a_phone_the_picture_takes_its_own_height_not_a_letterbox(browser, live_server, photos) -> None:
    phone = {"width": 390, "height": 844}
    context = browser.new_context(viewport=phone, device_scale_factor=3, is_mobile=True)
    page = context.new_page()
    image = photos[0]  # 1600 x 1200
    page.goto(f"{live_server.url}/images/{image.pk}/")
    page.wait_for_function("() => document.getElementById('viewer-image').complete")
    box = page.locator("#viewer-image").bounding_box()
    assert box["width"] <= 390
    assert abs(box["height"] - box["width"] * 1200 / 1600) <= 2, box  # no bands above and below
    assert page.evaluate(LAYOUT_SHIFT) < MAX_SHIFT
    context.close()
