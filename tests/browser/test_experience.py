"""The web experience in headless Chromium: drag-and-drop upload with progress, a rejected file and
a duplicate; live status; the timeline's filters kept across pages; bulk tagging; the viewer's
keyboard; password change; dark mode; a 390 px phone; no script errors anywhere."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

from ingestion import views as gallery_views
from ingestion.models import Image
from search.pipeline.queueing import enqueue_indexing
from tests.factories import PASSWORD, draw_image, image_bytes, index, make_image

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

INDEXING_TIMEOUT_MS = 60_000

DROP = """([selector, files]) => {
  const transfer = new DataTransfer();
  for (const f of files) {
    const bytes = Uint8Array.from(atob(f.data), (c) => c.charCodeAt(0));
    transfer.items.add(new File([bytes], f.name, { type: f.type }));
  }
  const zone = document.querySelector(selector);
  for (const type of ["dragenter", "dragover", "drop"]) {
    zone.dispatchEvent(new DragEvent(type, { dataTransfer: transfer, bubbles: true, cancelable: true }));
  }
}"""


def payload(name: str, data: bytes, mime: str = "image/png") -> dict:
    return {"name": name, "data": base64.b64encode(data).decode(), "type": mime}


def drop(page: Page, *files: dict) -> None:
    page.evaluate(DROP, ["#dropzone", list(files)])


def log_in(page: Page, base: str, username: str = "alice") -> None:
    page.goto(base + "/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.locator("main form").get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name=f"Log out {username}")).to_be_visible()


def watch_console(page: Page, expected_statuses: tuple[int, ...] = ()) -> list[str]:
    """Console errors, less the browser's own line for a response the test provokes on purpose."""
    errors: list[str] = []
    expected = tuple(f"the server responded with a status of {status}" for status in expected_statuses)

    def note(message) -> None:
        if message.type == "error" and not any(e in message.text for e in expected):
            errors.append(f"{page.url}: {message.text}")

    page.on("console", note)
    return errors


def at_image(page: Page, base: str, pk: int) -> None:
    """On the image's page, with its keyboard handling ready."""
    expect(page).to_have_url(f"{base}/images/{pk}/")
    expect(page.locator('#viewer[data-ready="true"]')).to_have_count(1)


def when(month: int) -> datetime:
    return datetime(2024, month, 1, 12, tzinfo=UTC)


def test_drop_upload_with_progress_a_rejection_a_duplicate_and_live_status(
    page: Page, live_server, workers, clean_index
) -> None:
    get_user_model().objects.create_user("alice", password=PASSWORD)
    console = watch_console(page, expected_statuses=(400, 409))
    base = live_server.url
    log_in(page, base)
    page.goto(base + "/upload/")
    expect(page.get_by_role("heading", name="Upload images")).to_be_visible()

    circle = image_bytes(draw_image("circle"), "PNG")
    square = image_bytes(draw_image("square"), "PNG")
    page.get_by_label("Tags for all").fill("holiday")  # for the files added from now on
    drop(
        page,
        payload("circle.png", circle),
        payload("square.png", square),
        payload("notes.png", b"these are words, not pixels"),
    )
    # Sent as soon as they are dropped: no button to find at the end of the list.
    queue = page.locator("#upload-queue li")
    expect(queue).to_have_count(3)
    expect(page.locator('#upload-queue li[data-state="done"]')).to_have_count(2)
    rejected = page.locator('#upload-queue li[data-state="failed"]')
    expect(rejected).to_have_count(1)
    expect(rejected.locator(".file-result")).to_contain_text("notes.png")
    expect(page.locator("#upload-summary")).to_have_text("2 uploaded · 1 refused")
    for bar in page.locator('#upload-queue li[data-state="done"] progress').all():
        assert bar.evaluate("p => p.value") == 100
    expect(page.locator("#upload-done")).to_be_visible()
    # Each uploaded file's own title, tags and visibility, saved in place.
    square_row = queue.filter(has_text="square.png")
    page.get_by_label("Tags for square.png").fill("geometry, holiday")
    page.get_by_label("Tags for square.png").press("Enter")
    expect(square_row.locator(".file-saved")).to_have_text("Tags saved")
    page.get_by_label("Visibility of square.png").select_option("private")
    expect(square_row.locator(".file-saved")).to_have_text("Visibility saved")
    page.get_by_label("Title for square.png").fill("A square")
    page.get_by_label("Title for square.png").press("Enter")
    expect(square_row.locator(".file-saved")).to_have_text("Title saved")

    # Live status: both turn indexed without a reload, and the header indicator follows.
    page.evaluate("window.__sameDocument = true")
    expect(page.locator('#upload-queue li[data-state="done"] .status')).to_have_text(
        ["indexed", "indexed"], timeout=INDEXING_TIMEOUT_MS
    )
    expect(page.locator("#queue-indicator")).to_have_attribute("data-state", "ok", timeout=15_000)
    assert page.evaluate("window.__sameDocument") is True
    first = Image.objects.get(original_filename="circle.png")
    assert first.tag_names() == ["holiday"]
    square = Image.objects.get(original_filename="square.png")
    assert (square.title, square.visibility, square.tag_names()) == (
        "A square",
        "private",
        ["geometry", "holiday"],
    )
    assert (first.title, first.visibility) == ("", "public")

    # The same circle again: offered "upload anyway", which stores a second copy.
    drop(page, payload("circle-again.png", circle))
    again = page.locator('#upload-queue li[data-state="duplicate"]')
    expect(again).to_have_count(1)
    expect(again).to_contain_text(f"circle-again.png is already in your library as #{first.pk}")
    expect(again.get_by_role("link", name=f"#{first.pk}")).to_have_attribute("href", f"/images/{first.pk}/")
    assert Image.objects.filter(sha256=first.sha256).count() == 1
    again.get_by_role("button", name="Upload anyway").click()
    expect(page.locator('#upload-queue li[data-state="done"]')).to_have_count(3)
    assert Image.objects.filter(sha256=first.sha256).count() == 2

    assert page.js_errors == [] and console == []


def test_timeline_filters_bulk_tags_and_the_viewers_keyboard(page: Page, live_server, monkeypatch) -> None:
    monkeypatch.setattr(gallery_views, "GALLERY_PAGE_SIZE", 2)
    alice = get_user_model().objects.create_user("alice", password=PASSWORD)
    batch = [
        make_image(alice, kind, tags=["batch"], created_at=when(m))
        for kind, m in (("circle", 5), ("square", 4), ("stripes", 3))
    ]
    make_image(alice, "circle", title="unrelated", color=(20, 200, 20), created_at=when(6))
    console = watch_console(page)
    base = live_server.url
    log_in(page, base)

    # Filters as controls, kept on the next page.
    page.goto(base + "/")
    expect(page.get_by_role("heading", name="June 2024")).to_be_visible()
    page.locator("#filters-panel > summary").click()  # the filters wait in a panel
    page.get_by_label("Tag", exact=True).fill("batch")
    page.get_by_role("button", name="Apply").first.click()
    expect(page).to_have_url(re.compile(r"tag=batch"))
    expect(page.locator("#gallery .card")).to_have_count(2)
    page.get_by_role("link", name="Older →").click()
    expect(page).to_have_url(re.compile(r"tag=batch.*page=2"))
    expect(page.get_by_label("Tag", exact=True)).to_have_value("batch")
    expect(page.locator("#gallery .card")).to_have_count(1)
    expect(page.get_by_role("heading", name="March 2024")).to_be_visible()

    # Multi-select and tag in bulk.
    page.goto(base + "/?tag=batch")
    page.get_by_label(f"Select {batch[0].display_title}").check()
    page.get_by_label(f"Select {batch[1].display_title}").check()
    expect(page.locator("#bulk-count")).to_have_text("2 selected")
    page.locator("#bulk-tags").fill("favourite")
    page.locator("#bulk-apply").click()
    expect(page.locator(".messages")).to_contain_text("Tagged 2 images.")
    expect(page).to_have_url(re.compile(r"/\?tag=batch$"))
    assert sorted(Image.objects.get(pk=batch[0].pk).tag_names()) == ["batch", "favourite"]
    assert Image.objects.get(pk=batch[2].pk).tag_names() == ["batch"]

    # The viewer walks the list it came from; the address follows; Esc goes back to the list.
    page.locator(f'#gallery .card[data-image-id="{batch[0].pk}"] a.thumb').click()
    at_image(page, base, batch[0].pk)
    page.keyboard.press("ArrowRight")
    at_image(page, base, batch[1].pk)
    page.keyboard.press("ArrowLeft")
    at_image(page, base, batch[0].pk)
    page.keyboard.press("ArrowLeft")  # the first of the list: stays
    at_image(page, base, batch[0].pk)

    page.keyboard.press("f")
    expect(page.locator("#lightbox")).to_be_visible()
    page.get_by_role("button", name="Zoom in").click()
    expect(page.locator("#lightbox .lb-zoom")).to_have_text("150%")
    page.keyboard.press("Escape")
    expect(page.locator("#lightbox")).to_be_hidden()
    at_image(page, base, batch[0].pk)
    expect(page.locator("#viewer-download")).to_have_attribute("download", "circle.png")
    page.keyboard.press("Escape")
    expect(page).to_have_url(base + "/?tag=batch")
    # From the last picture of a page, → carries on into the list's next page.
    page.locator(f'#gallery .card[data-image-id="{batch[1].pk}"] a.thumb').click()
    at_image(page, base, batch[1].pk)
    page.keyboard.press("ArrowRight")
    at_image(page, base, batch[2].pk)
    page.keyboard.press("ArrowLeft")
    at_image(page, base, batch[1].pk)
    # In full screen a swipe goes to the neighbour, which opens in full screen too.
    page.keyboard.press("f")
    # Measure the picture only once it is shown and loaded: before that its box is still changing.
    expect(page.locator("#lightbox")).to_be_visible()
    page.wait_for_function(
        "() => { const i = document.querySelector('#lightbox img');"
        " return i && i.complete && i.naturalWidth > 0; }"
    )
    box = page.locator("#lightbox img").bounding_box()
    middle_x, middle_y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(middle_x, middle_y)
    page.mouse.down()
    page.mouse.move(middle_x - 80, middle_y, steps=4)
    page.mouse.move(middle_x - 160, middle_y, steps=4)
    page.mouse.up()
    at_image(page, base, batch[2].pk)
    expect(page.locator("#lightbox")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#lightbox")).to_be_hidden()

    # Edit in place: the valid title is saved, the bad tag explained, the typing kept.
    page.goto(f"{base}/images/{batch[0].pk}/")
    page.locator("#edit summary").click()
    page.locator("#edit-form input[name=title]").fill("Sunset")
    long_tag = "x" * 80
    page.locator("#edit-form input[name=tags]").fill(f"fine, {long_tag}")
    page.locator("#edit-form").get_by_role("button", name="Save").click()
    expect(page.locator("#edit-error-tags")).to_contain_text("too long")
    expect(page.locator(".meta h1")).to_have_text("Sunset")
    expect(page.locator("#edit-form input[name=tags]")).to_have_value(f"fine, {long_tag}")
    assert Image.objects.get(pk=batch[0].pk).title == "Sunset"

    # Delete asks first: a dismissed question keeps the image, an accepted one deletes it.
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.locator(".meta").get_by_role("button", name="Delete").click()
    at_image(page, base, batch[0].pk)
    assert Image.objects.filter(pk=batch[0].pk).exists()
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(".meta").get_by_role("button", name="Delete").click()
    expect(page.locator(".messages")).to_contain_text("Moved to the trash")
    assert not Image.objects.filter(pk=batch[0].pk).exists()  # in the trash: Image.all_objects

    assert page.js_errors == [] and console == []


def test_password_change_and_the_account_token(page: Page, live_server) -> None:
    get_user_model().objects.create_user("alice", password=PASSWORD)
    base = live_server.url
    log_in(page, base)
    page.get_by_role("link", name="Account").click()
    page.get_by_role("button", name="Create token").click()
    expect(page.locator("#token-value")).to_have_text(re.compile(r"^[0-9a-f]{40}$"))
    page.get_by_role("link", name="Change your password").click()
    expect(page).to_have_url(base + "/accounts/password_change/")
    page.get_by_label("Old password").fill(PASSWORD)
    page.get_by_label(re.compile(r"^New password:?$")).fill("Brand-new-pass-42")
    page.get_by_label("New password confirmation").fill("Brand-new-pass-42")
    page.get_by_role("button", name="Change password").click()
    expect(page).to_have_url(base + "/accounts/")
    expect(page.locator(".messages")).to_contain_text("Password changed.")
    expect(page.locator(".messages")).to_contain_text("API token was revoked")
    expect(page.locator("#api-token")).to_contain_text("No token")
    assert page.js_errors == []


def background(page: Page) -> str:
    return page.evaluate("getComputedStyle(document.body).backgroundColor")


def test_dark_scheme_and_the_switch(browser, live_server) -> None:
    context = browser.new_context(color_scheme="dark")
    page = context.new_page()
    page.goto(live_server.url + "/")
    assert background(page) == "rgb(15, 18, 22)"
    page.locator("#theme-toggle").click()
    assert background(page) == "rgb(245, 246, 248)"
    page.reload()  # the choice is remembered
    assert background(page) == "rgb(245, 246, 248)"
    expect(page.locator("#theme-toggle")).to_have_attribute("aria-pressed", "false")
    context.close()


def test_every_page_fits_a_390_px_phone_without_script_errors(browser, live_server, workers) -> None:
    # `workers`: the search pages answer 200 only with a query worker (run alone, this test used to
    # get 503 there; in the whole suite an earlier test had started them).
    alice = get_user_model().objects.create_user("alice", password=PASSWORD)
    image = make_image(alice, "circle", title="A rather long title " * 12)
    make_image(alice, "square", created_at=when(2))
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(f"{page.url}: {m.text}") if m.type == "error" else None)
    base = live_server.url

    def fits(path: str, status: int = 200) -> None:
        response = page.goto(base + path)
        assert response.status == status, path
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} is {width} px wide"

    for path in ("/", "/search/", "/search/?q=circle", "/accounts/login/", "/accounts/signup/"):
        fits(path)
    fits("/no-such-page/", 404)
    log_in(page, base)
    for path in (
        "/",
        "/?owner=me",
        "/upload/",
        f"/images/{image.pk}/",
        "/accounts/",
        "/accounts/password_change/",
        "/status/",
    ):
        fits(path)
    # Search pages need the query worker; a 503 page must fit too. The console lines for 503 and 404
    # are the browser's own "failed to load resource", not script errors.
    errors = [e for e in errors if "status of 503" not in e and "status of 404" not in e]
    assert errors == []
    context.close()


def test_search_by_a_dropped_example_image(page: Page, live_server, workers, clean_index) -> None:
    alice = get_user_model().objects.create_user("alice", password=PASSWORD)
    bob = get_user_model().objects.create_user("bob", password=PASSWORD)
    circle = image_bytes(draw_image("circle"), "PNG")
    mine = make_image(alice, data=circle, title="My circle")
    make_image(bob, data=image_bytes(draw_image("circle", color=(190, 40, 40)), "PNG"), title="Bob's circle")
    make_image(alice, "stripes", title="Stripes")
    index(*Image.objects.all())
    log_in(page, live_server.url)
    page.goto(live_server.url + "/search/")
    page.evaluate(DROP, ["#image-search", [payload("example.png", circle)]])
    expect(page.locator("#image-search .example-preview")).to_be_visible()
    assert page.locator("#image-search input[name=image]").evaluate("i => i.files[0].name") == "example.png"
    page.get_by_role("button", name="Search by image").click()
    first = page.locator("#results .card").first
    expect(first).to_have_attribute("data-image-id", str(mine.pk))
    expect(first.locator(".title")).to_have_text("My circle")
    assert page.js_errors == []


def test_similar_images_appear_when_indexing_finishes(page: Page, live_server, workers, clean_index) -> None:
    alice = get_user_model().objects.create_user("alice", password=PASSWORD)
    neighbour = make_image(alice, "circle", title="Neighbour")
    index(neighbour)
    waiting = make_image(alice, "circle", color=(180, 40, 40), title="Waiting")  # pending: not announced
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/images/{waiting.pk}/")
    expect(page.locator("#similar")).to_contain_text("Similar images appear once this image is indexed.")
    expect(page.locator(".stage")).to_contain_text("The preview is being prepared.")
    page.evaluate("window.__sameDocument = true")

    enqueue_indexing([waiting.pk])
    expect(page.locator(".meta .status")).to_have_text("indexed", timeout=INDEXING_TIMEOUT_MS)
    expect(page.locator(f'#similar .card[data-image-id="{neighbour.pk}"]')).to_be_visible()
    expect(page.locator("#viewer-image")).to_be_visible()  # the preview replaced the placeholder
    assert page.evaluate("window.__sameDocument") is True
    assert page.js_errors == []
