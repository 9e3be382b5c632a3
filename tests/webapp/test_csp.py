"""Content-Security-Policy (issue 15 item 10): pages run only the site's own files; the API docs
have their own policy for Swagger UI's inline styles; images and every other non-page response
(an original opened on its own) run and load nothing. tests/browser/test_csp.py loads the pages in
Chromium and finds no violation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from tests.factories import make_image, make_user
from webapp.middleware import API_DOCS_POLICY, MEDIA_POLICY, PAGE_POLICY

pytestmark = pytest.mark.django_db

CSP = "Content-Security-Policy"


def directives(policy: str) -> dict[str, list[str]]:
    parts = (part.split() for part in policy.split(";") if part.strip())
    return {name: values for name, *values in parts}


def test_the_page_policy_allows_no_inline_script_or_style_and_no_other_site():
    page = directives(PAGE_POLICY)
    assert page["script-src"] == ["'self'"] and page["style-src"] == ["'self'"]
    assert page["object-src"] == ["'none'"] and page["base-uri"] == ["'none'"]
    assert page["frame-ancestors"] == ["'none'"]
    assert not [value for values in page.values() for value in values if "unsafe" in value or "*" in value]
    docs = directives(API_DOCS_POLICY)
    assert docs["script-src"] == ["'self'"]  # Swagger UI's styles inline, never its scripts
    media = directives(MEDIA_POLICY)
    assert media["default-src"] == ["'none'"] and "sandbox" in media


@pytest.mark.parametrize("path", ["/", "/search/", "/accounts/login/", "/accounts/signup/", "/no-such-page/"])
def test_pages_and_error_pages_carry_the_page_policy(path):
    response = Client().get(path)
    assert response["Content-Type"].startswith("text/html")
    assert response[CSP] == PAGE_POLICY


def test_signed_in_pages_carry_it_too():
    alice = make_user("alice")
    image = make_image(alice)
    client = Client()
    client.force_login(alice)
    for path in ("/upload/", "/accounts/", f"/images/{image.pk}/", "/status/"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response[CSP] == PAGE_POLICY, path


def test_images_and_other_non_pages_run_and_load_nothing():
    image = make_image(make_user("alice"))
    client = Client()
    for path in (
        f"/media/images/{image.pk}/original",
        "/api/images/",
        "/api/search/?q=",
        "/healthz",
        "/static/app.js",
        "/static/favicon.svg",  # an SVG opened on its own could run script
    ):
        response = client.get(path)
        assert response.status_code in (200, 400, 503), path
        assert not response["Content-Type"].startswith("text/html"), path
        assert response[CSP] == MEDIA_POLICY, path


def test_the_api_docs_have_their_own_policy_and_no_inline_script():
    client = Client()
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and docs[CSP] == API_DOCS_POLICY
    html = docs.content.decode()
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert scripts and all("src=" in attrs and not body.strip() for attrs, body in scripts)
    start = re.search(r'<script src="([^"]*script[^"]*)"', html).group(1).replace("&amp;", "&")
    script = client.get(start)  # the start-up script, served by the same view
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()


TEMPLATES = Path(settings.BASE_DIR) / "templates"
INLINE = {
    "inline script": re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/(?:ld\+)?json\")[^>]*>"),
    "style attribute": re.compile(r"<[^>]*\sstyle\s*="),
    "inline handler": re.compile(r"<[^>]*\son[a-z]+\s*=", re.I),
    "javascript: URL": re.compile(r"javascript:", re.I),
    "<style> element": re.compile(r"<style[\s>]"),
}


@pytest.mark.parametrize(
    "template", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: str(p.relative_to(TEMPLATES))
)
def test_templates_have_nothing_the_page_policy_would_block(template: Path):
    text = template.read_text()
    found = {what: pattern.findall(text) for what, pattern in INLINE.items()}
    assert not {what: hits for what, hits in found.items() if hits}, template
