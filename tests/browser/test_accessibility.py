"""axe-core (the engine behind Lighthouse's accessibility audit, shipped inside the pinned
axe-playwright-python wheel) finds no WCAG 2 A/AA or best-practice violation on the site's pages,
in the light and the dark scheme."""

from __future__ import annotations

import pytest
from axe_playwright_python.base import AXE_SCRIPT
from django.contrib.auth import get_user_model
from playwright.sync_api import Page

from ingestion.models import Image
from tests.factories import PASSWORD, make_image

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RULES = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]}}


def violations(page: Page) -> list[str]:
    page.add_script_tag(content=AXE_SCRIPT)
    result = page.evaluate("(rules) => axe.run(document, rules)", RULES)
    return [
        f"{page.url} [{v['id']}] {v['help']}: " + "; ".join(n["target"][0] for n in v["nodes"][:3])
        for v in result["violations"]
    ]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_pages_pass_axe(browser, live_server, scheme: str) -> None:
    alice = get_user_model().objects.create_user("alice", password=PASSWORD)
    image = make_image(alice, "circle", title="Red circle", tags=["shapes"])
    failed = make_image(alice, "square", title="Broken")
    Image.objects.filter(pk=failed.pk).update(
        status="failed", failure_reason="The file could not be decoded."
    )
    # axe-core is injected as an inline script, which the pages' Content-Security-Policy refuses (as it
    # should); the audit is the test's, not the page's (tests/browser/test_csp.py checks the policy).
    viewport = {"width": 1280, "height": 900}
    context = browser.new_context(color_scheme=scheme, viewport=viewport, bypass_csp=True)
    page = context.new_page()
    base = live_server.url
    found: list[str] = []
    for path in (
        "/",
        "/search/",
        "/search/?q=circle",
        "/accounts/login/",
        "/accounts/signup/",
        "/no-such-page/",
    ):
        page.goto(base + path)
        found += violations(page)
    page.goto(base + "/accounts/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.locator("main form").get_by_role("button", name="Log in").click()
    page.wait_for_url(base + "/")
    for path in (
        "/",
        "/upload/",
        f"/images/{image.pk}/",
        "/accounts/",
        "/accounts/password_change/",
        "/status/",
    ):
        page.goto(base + path)
        found += violations(page)
    context.close()
    assert not found, "\n".join(found)
