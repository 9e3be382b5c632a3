"""The status page's model switch in real Chromium, on a 390 px phone: a superuser follows a
switch's progress, cancels it and is told in plain words why a switch cannot start."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import Page, expect

from ingestion.models import Image
from search.models import ModelSwitch
from tests.browser.test_experience import log_in, watch_console
from tests.factories import PASSWORD, make_image

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_superuser_follows_and_cancels_a_switch_on_a_phone(page: Page, live_server) -> None:
    root = get_user_model().objects.create_user("root", password=PASSWORD, is_staff=True, is_superuser=True)
    for kind in ("circle", "square"):
        image = make_image(root, kind)
        Image.objects.filter(pk=image.pk).update(status="indexed", indexed_at=timezone.now())
    # A switch under way, written as `start` writes it (no build task: nothing races the page).
    ModelSwitch.objects.create(pk=1, target="demo-64", started_at=timezone.now())
    page.set_viewport_size({"width": 390, "height": 844})
    console = watch_console(page)
    log_in(page, live_server.url, "root")
    page.goto(live_server.url + "/status/")

    switch = page.locator("#model-switch")
    expect(switch).to_contain_text("Switching to demo-64: 0 of 2 indexed images encoded (0%)")
    expect(page.get_by_label("Model switch progress")).to_be_visible()
    expect(page.locator("#active-model")).to_have_text("demo")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    page.get_by_role("button", name="Cancel the switch").click()
    expect(page.get_by_text("Cancelled the switch to demo-64.")).to_be_visible()
    expect(switch).to_have_count(0)
    page.get_by_label("Switch to another model").fill("demo")
    page.get_by_role("button", name="Build and switch").click()
    expect(page.get_by_text("demo is already the active model.")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert ModelSwitch.objects.get(pk=1).target == ""
    assert page.js_errors == [] and console == []
