"""The status page in real Chromium: "being indexed now" follows the workers without a reload, and
the header says whether the queue is being worked on or only waiting."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

from search.worker_status import (
    INDEXING_PREFIX,
    SummaryState,
    encoder_summary,
    mark_indexing,
    read_all,
    redis_client,
    unmark_indexing,
)
from tests.browser.test_experience import log_in, watch_console
from tests.factories import PASSWORD, make_image

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

    # What an ingest worker does as a batch starts (search.worker_status, on Celery's task_prerun).
    mark_indexing("browser-batch", [images[0].pk, images[1].pk])
    page.evaluate("window.__sameDocument = true")
    expect(indexing).to_have_text("2", timeout=15_000)
    expect(waiting).to_have_text("1")
    expect(page.locator("#queue-indicator .queue-text")).to_have_text("3 indexing")
    unmark_indexing("browser-batch")
    expect(indexing).to_have_text("0", timeout=15_000)
    assert page.evaluate("window.__sameDocument") is True
    assert page.js_errors == [] and console == []
