"""Every page under its Content-Security-Policy in real Chromium (issue 15 item 10): no violation
reported, scripts working (previews of chosen files, the API docs rendering the schema), and an
original opened on its own still shows."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

from tests.browser.test_experience import log_in, payload
from tests.factories import PASSWORD, draw_image, image_bytes, make_image

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Attached before any of the page's own scripts run, on every document the page opens.
WATCH_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.__violations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${where}`);
});
"""


def violations(page: Page) -> list[str]:
    return page.evaluate("window.__violations || []")


def test_pages_docs_and_media_load_without_a_policy_violation(page: Page, live_server) -> None:
    alice = get_user_model().objects.create_user("alice", password=PASSWORD)
    image = make_image(alice, "circle", title="A circle")
    base = live_server.url
    page.add_init_script(WATCH_VIOLATIONS)
    reported: list[str] = []
    page.on(
        "console",
        lambda m: reported.append(f"{page.url}: {m.text}") if "Content Security Policy" in m.text else None,
    )
    found: dict[str, list[str]] = {}

    def visit(path: str) -> None:
        response = page.goto(base + path)
        assert response is not None and response.status == 200, path
        assert response.headers.get("content-security-policy"), path
        page.wait_for_load_state("networkidle")
        found[path] = violations(page)

    for path in ("/", "/accounts/login/", "/accounts/signup/", "/search/"):
        visit(path)
    # The search form previews a chosen example image from a blob: URL.
    png = image_bytes(draw_image("square"), "PNG")
    page.locator("#image-search input[type=file]").set_input_files(
        files=[{"name": "example.png", "mimeType": "image/png", "buffer": png}]
    )
    expect(page.locator("img.example-preview")).to_be_visible()
    found["/search/ preview"] = violations(page)

    log_in(page, base)
    for path in ("/", "/upload/", f"/images/{image.pk}/", "/status/", "/accounts/"):
        visit(path)
    page.goto(base + "/upload/")
    page.locator("#file-input").set_input_files(
        files=[{"name": p["name"], "mimeType": p["type"], "buffer": png} for p in [payload("a.png", png)]]
    )
    page.wait_for_load_state("networkidle")
    found["/upload/ chosen"] = violations(page)

    # Swagger UI from the sidecar: its start-up script is a file, its styles inline, the schema fetched.
    visit("/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Image search API")
    expect(page.locator(".opblock").first).to_be_visible()
    found["/api/docs/ rendered"] = violations(page)

    # An original opened on its own: shown, under the policy that runs and loads nothing.
    response = page.goto(f"{base}/media/images/{image.pk}/original")
    assert response is not None and "sandbox" in response.headers["content-security-policy"]
    assert page.evaluate("document.images.length === 1 && document.images[0].naturalWidth > 0")

    assert {path: seen for path, seen in found.items() if seen} == {}
    assert reported == []
    assert page.js_errors == []
