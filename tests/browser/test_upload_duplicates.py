"""Issue 18 in headless Chromium: the upload page refuses a file the uploader already has by the
API's rule, with JavaScript (each file through `POST /api/images/`) and without (the plain form to
`POST /upload/`); the box "Upload even if I already have it" stores it anyway on both."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

from ingestion import trash
from ingestion.models import Image
from tests.browser.test_experience import drop, log_in, payload, watch_console
from tests.factories import PASSWORD, draw_image, image_bytes, make_image
from webapp.celery import app as celery_app

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BOX = "Upload even if I already have it"


@pytest.fixture(autouse=True)
def ingest_queue_purged():
    """No worker runs here: the uploads' indexing tasks must not outlive the test's rows."""
    yield
    with celery_app.connection_for_write() as connection:
        connection.default_channel.queue_purge(settings.INGEST_QUEUE)


@pytest.fixture
def circle() -> bytes:
    return image_bytes(draw_image("circle"), "PNG")


def send_plain_form(page: Page, data: bytes) -> None:
    files = [{"name": "again.png", "mimeType": "image/png", "buffer": data}]
    page.get_by_label("Images", exact=True).set_input_files(files=files)
    page.get_by_role("button", name="Upload", exact=True).click()


def test_without_javascript_a_copy_is_refused_and_the_box_stores_it(browser, live_server, circle) -> None:
    alice = get_user_model().objects.create_user("alice", password=PASSWORD)
    kept = make_image(alice, data=circle)
    context = browser.new_context(java_script_enabled=False, viewport={"width": 390, "height": 844})
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        log_in(page, live_server.url)
        page.goto(live_server.url + "/upload/")
        send_plain_form(page, circle)
        expect(page).to_have_url(live_server.url + "/upload/")
        expect(page.locator(".messages")).to_contain_text(
            f"again.png is already in your library as #{kept.pk}, so it was not uploaded again"
        )
        assert Image.objects.count() == 1

        page.get_by_label(BOX).check()
        send_plain_form(page, circle)
        expect(page).to_have_url(re.compile(r"/\?owner=me$"))
        expect(page.locator(".messages")).to_contain_text("Uploaded 1 image")
        assert Image.objects.filter(owner=alice, sha256=kept.sha256).count() == 2
    finally:
        context.close()


def test_with_javascript_a_trash_copy_is_named_and_the_box_is_each_files_first_choice(
    page: Page, live_server, circle
) -> None:
    alice = get_user_model().objects.create_user("alice", password=PASSWORD)
    kept = make_image(alice, data=circle)
    trash.move_to_trash([kept], alice)
    console = watch_console(page, expected_statuses=(409,))
    log_in(page, live_server.url)
    page.goto(live_server.url + "/upload/")

    drop(page, payload("again.png", circle))
    refused = page.locator('#upload-queue li[data-state="duplicate"]')
    expect(refused).to_contain_text(f"again.png is in your trash as #{kept.pk}")
    expect(refused.get_by_role("link", name=f"#{kept.pk}")).to_have_attribute("href", "/trash/")

    page.get_by_label(BOX).check()
    drop(page, payload("again-anyway.png", circle))
    expect(page.locator('#upload-queue li[data-state="done"]')).to_have_count(1)
    expect(page.locator('#upload-queue li[data-state="duplicate"]')).to_have_count(1)  # the first stays
    assert Image.objects.get().original_filename == "again-anyway.png"
    assert page.js_errors == [] and console == []
