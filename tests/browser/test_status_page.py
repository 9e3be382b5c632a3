"""The status page in real Chromium: "being indexed now" follows the workers without a reload, and
the header says whether the queue is being worked on or only waiting."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

from ingestion.models import Image
from search.pipeline.worker_status import (
    INDEXING_PREFIX,
    SummaryState,
    encoder_summary,
    mark_indexing,
    read_all,
    redis_client,
    unmark_indexing,
)
from tests.browser.test_experience import drop, log_in, payload, watch_console
from tests.factories import PASSWORD, draw_image, image_bytes, make_image

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def no_marks():
    client = redis_client()
    for key in client.scan_iter(match=INDEXING_PREFIX + "*"):
        client.delete(key)
    yield
    for key in client.scan_iter(match=INDEXING_PREFIX + "*"):
        client.delete(key)


def test_being_indexed_now_follows_the_worker_without_a_reload(page: Page, live_server, no_marks) -> None:
    alice = get_user_model().objects.create_user("alice", password=PASSWORD)
    images = [make_image(alice, kind) for kind in ("circle", "square", "stripes")]  # pending
    console = watch_console(page)
    log_in(page, live_server.url)
    page.goto(live_server.url + "/status/")
    indexing, waiting = page.locator('[data-field="indexing"]'), page.locator('[data-field="waiting"]')
    expect(indexing).to_have_text("0")
    expect(waiting).to_have_text("3")
    # Without a worker serving the queue (other tests of the session may have started one) they wait.
    served = encoder_summary(read_all(), settings.INGEST_QUEUE)[0] == SummaryState.OK
    expect(page.locator("#queue-indicator .queue-text")).to_have_text("3 indexing" if served else "3 waiting")

    # What an ingest worker does as a batch starts (search.pipeline.worker_status, on Celery's task_prerun).
    mark_indexing("browser-batch", [images[0].pk, images[1].pk])
    page.evaluate("window.__sameDocument = true")
    expect(indexing).to_have_text("2", timeout=15_000)
    expect(waiting).to_have_text("1")
    expect(page.locator("#queue-indicator .queue-text")).to_have_text("3 indexing")
    unmark_indexing("browser-batch")
    expect(indexing).to_have_text("0", timeout=15_000)
    assert page.evaluate("window.__sameDocument") is True
    assert page.js_errors == [] and console == []


def test_the_header_follows_the_page_at_once_not_its_own_next_poll(page: Page, live_server, no_marks) -> None:
    # Issue 20: the header's dot trailed the upload page by up to 15 s, polling on its own clock.
    # With the page's clock stopped, no poll of its own ever comes: only what the page learns
    # (an upload appearing pending, an image turning indexed) can move the header.
    get_user_model().objects.create_user("alice", password=PASSWORD)
    console = watch_console(page)
    log_in(page, live_server.url)
    page.clock.install()
    page.clock.pause_at(datetime.now(UTC) + timedelta(seconds=1))
    page.goto(live_server.url + "/upload/")
    header = page.locator("#queue-indicator")
    expect(header).to_have_attribute("data-state", "ok")  # its one poll on load: nothing waits
    drop(page, payload("circle.png", image_bytes(draw_image("circle"), "PNG")))
    expect(page.locator('#upload-queue li[data-state="done"]')).to_have_count(1)
    expect(header).to_have_attribute("data-state", "busy")
    expect(header.locator(".queue-text")).to_have_text(re.compile(r"^1 (waiting|indexing)$"))

    # What app.js does when its poll finds the image indexed (its own clock is stopped too).
    image = Image.objects.get(original_filename="circle.png")
    Image.objects.filter(pk=image.pk).update(status=Image.Status.INDEXED)
    page.evaluate("""document.querySelectorAll('[data-status="pending"]')
                     .forEach((el) => { el.dataset.status = "indexed"; })""")
    expect(header).to_have_attribute("data-state", "ok")
    expect(header.locator(".queue-text")).to_have_text("All indexed")
    assert page.js_errors == [] and console == []
