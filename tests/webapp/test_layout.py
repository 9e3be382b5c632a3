"""What every page's layout carries: skip link, landmarks, the theme switch and script, the favicon
(also at /favicon.ico, which browsers ask for on pages that do not name one), live messages."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db


def test_layout_has_skip_link_landmarks_and_theme() -> None:
    html = Client().get("/").content.decode()
    assert '<a class="skip-link" href="#main">Skip to content</a>' in html
    assert '<main id="main" tabindex="-1">' in html
    assert '<nav aria-label="Main">' in html and "<footer>" in html
    assert 'id="theme-toggle"' in html and "theme.js" in html
    assert '<meta name="color-scheme" content="light dark">' in html
    assert 'rel="icon" href="/static/favicon.svg"' in html
    assert 'id="queue-indicator"' not in html  # only for signed-in people


def test_signed_in_layout_links_account_and_status() -> None:
    make_user("alice")
    client = Client()
    client.login(username="alice", password=PASSWORD)
    html = client.get("/").content.decode()
    assert 'href="/accounts/"' in html and 'id="queue-indicator"' in html
    assert 'data-url="/status/summary.json"' in html


def test_favicon_ico_points_at_the_svg() -> None:
    response = Client().get("/favicon.ico")
    assert response.status_code == 301 and response["Location"] == "/static/favicon.svg"


def test_messages_are_announced() -> None:
    make_user("alice")
    client = Client()
    client.login(username="alice", password=PASSWORD)
    html = client.post("/accounts/token/", {"action": "revoke"}, follow=True).content.decode()
    assert '<ul class="messages" role="status" aria-live="polite">' in html
