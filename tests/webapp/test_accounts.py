"""The account page: API token created, shown once, replaced, revoked; password change revokes it."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from tests.factories import PASSWORD, api_client

pytestmark = pytest.mark.django_db


def test_account_page_needs_login() -> None:
    response = Client().get("/accounts/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_token_is_created_shown_once_replaced_and_revoked(browser, alice) -> None:
    assert "No token" in browser.get("/accounts/").content.decode()
    shown = browser.post("/accounts/token/", {"action": "create"}, follow=True).content.decode()
    key = Token.objects.get(user=alice).key
    assert key in shown and "copy it now" in shown
    assert key not in browser.get("/accounts/").content.decode()  # only once
    assert api_client().get("/api/images/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200

    browser.post("/accounts/token/", {"action": "create"})
    replaced = Token.objects.get(user=alice).key
    assert replaced != key
    assert api_client().get("/api/images/?owner=me", HTTP_AUTHORIZATION=f"Token {key}").status_code == 401

    browser.post("/accounts/token/", {"action": "revoke"})
    assert not Token.objects.filter(user=alice).exists()
    assert (
        "action must be"
        in browser.post("/accounts/token/", {"action": "steal"}, follow=True).content.decode()
    )


def test_password_change_in_the_site_layout_revokes_the_token(browser, alice) -> None:
    Token.objects.create(user=alice)
    page = browser.get("/accounts/password_change/").content.decode()
    assert 'id="password-change"' in page and 'class="topbar"' in page

    wrong = browser.post(
        "/accounts/password_change/",
        {"old_password": "nope", "new_password1": "An0ther-secret!", "new_password2": "An0ther-secret!"},
    )
    assert wrong.status_code == 200 and "Your old password was entered incorrectly" in wrong.content.decode()
    assert Token.objects.filter(user=alice).exists()

    done = browser.post(
        "/accounts/password_change/",
        {"old_password": PASSWORD, "new_password1": "An0ther-secret!", "new_password2": "An0ther-secret!"},
        follow=True,
    )
    assert done.redirect_chain[-1][0] == "/accounts/"
    assert "Password changed." in done.content.decode() and "API token was revoked" in done.content.decode()
    assert not Token.objects.filter(user=alice).exists()
    assert Client().login(username="alice", password="An0ther-secret!")
    assert browser.get("/accounts/").status_code == 200  # still signed in here
