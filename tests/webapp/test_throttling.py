"""Throttling (finding 2): DRF throttles per user and per IP on the token endpoint, search and
upload; django-axes lockout after repeated failed sign-ins (token endpoint and login page); the
sign-up page throttled. Every refusal is a 429 with Retry-After in the project's error shape.
The suite's settings are generous (webapp/test_settings.py); these tests lower them."""

from __future__ import annotations

import contextlib

import pytest
import redis
from django.core.cache import caches
from django.test import Client

from tests.factories import PASSWORD, api_client, make_user

pytestmark = pytest.mark.django_db

GENEROUS = "100000/min"


@pytest.fixture
def rates(settings):
    """Lowered rates (scope -> rate) on a fresh count."""
    caches["throttle"].clear()
    caches["default"].clear()
    settings.THROTTLE_RATES = {scope: GENEROUS for scope in settings.THROTTLE_RATES}
    yield settings.THROTTLE_RATES
    with contextlib.suppress(Exception):  # a test may have pointed the cache at a dead server
        caches["throttle"].clear()
    caches["default"].clear()


def assert_throttled(response) -> None:
    assert response.status_code == 429, response.content[:300]
    assert int(response["Retry-After"]) >= 1
    assert response.json()["error"]


def test_token_endpoint_is_throttled_per_address(rates):
    make_user("alice")
    rates["auth_ip"] = "3/min"
    client = api_client()
    for _ in range(3):
        assert client.post("/api/auth/token/", {"username": "alice", "password": "wrong"}).status_code == 400
    assert_throttled(client.post("/api/auth/token/", {"username": "alice", "password": PASSWORD}))


def test_search_is_throttled_per_user_and_others_go_on(rates):
    alice, bob = make_user("alice"), make_user("bob")
    rates["search"] = "2/min"
    as_alice, as_bob = api_client(alice), api_client(bob)
    for _ in range(2):  # an empty query is refused (400) after the throttle counted it
        assert as_alice.get("/api/search/", {"q": ""}).status_code == 400
    assert_throttled(as_alice.get("/api/search/", {"q": ""}))
    assert as_bob.get("/api/search/", {"q": ""}).status_code == 400


def test_search_is_throttled_per_address_whoever_is_signed_in(rates):
    alice, bob = make_user("alice"), make_user("bob")
    rates["search_ip"] = "3/min"
    for client in (api_client(alice), api_client(bob), api_client()):
        assert client.get("/api/search/", {"q": ""}).status_code == 400
    assert_throttled(api_client(make_user("carol")).get("/api/search/", {"q": ""}))


def test_image_searches_have_their_own_lower_budget(rates):
    rates["search_image"] = "1/min"
    client = api_client()
    assert client.post("/api/search/", {}, format="multipart").status_code == 400  # no image sent
    assert_throttled(client.post("/api/search/", {}, format="multipart"))
    assert client.get("/api/search/", {"q": ""}).status_code == 400  # text search unaffected


def test_uploads_are_throttled(rates):
    alice = make_user("alice")
    rates["upload"] = "2/hour"
    client = api_client(alice)
    for _ in range(2):
        assert client.post("/api/images/", {}, format="multipart").status_code == 400
    assert_throttled(client.post("/api/images/", {}, format="multipart"))
    assert client.get("/api/images/").status_code == 200  # reading is not an upload


def test_token_endpoint_locks_the_account_for_this_address_after_failures(rates, settings):
    make_user("alice")
    make_user("bob")
    settings.AXES_FAILURE_LIMIT = 3
    client = api_client()
    for _ in range(3):
        assert client.post("/api/auth/token/", {"username": "alice", "password": "nope"}).status_code in (
            400,
            429,
        )
    response = client.post("/api/auth/token/", {"username": "alice", "password": PASSWORD})
    assert_throttled(response)
    assert "Too many failed sign-ins" in response.json()["error"]
    # Another account from the same address still signs in.
    assert "token" in client.post("/api/auth/token/", {"username": "bob", "password": PASSWORD}).json()


def test_login_page_locks_out_after_failures_with_a_page(rates, settings):
    make_user("alice")
    settings.AXES_FAILURE_LIMIT = 3
    client = Client()
    for _ in range(3):
        response = client.post("/accounts/login/", {"username": "alice", "password": "nope"})
    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 60
    assert b"Too many failed sign-ins" in response.content
    assert b"<nav" in response.content  # in the site's layout
    assert "_auth_user_id" not in client.session


def test_a_successful_login_before_the_limit_resets_the_count(rates, settings):
    make_user("alice")
    settings.AXES_FAILURE_LIMIT = 3
    client = Client()
    for _ in range(2):
        client.post("/accounts/login/", {"username": "alice", "password": "nope"})
    assert client.post("/accounts/login/", {"username": "alice", "password": PASSWORD}).status_code == 302
    client.logout()
    for _ in range(2):
        client.post("/accounts/login/", {"username": "alice", "password": "nope"})
    assert client.post("/accounts/login/", {"username": "alice", "password": PASSWORD}).status_code == 302


def test_sign_up_page_is_throttled(rates):
    rates["signup_ip"] = "2/hour"
    client = Client()
    for i in range(2):
        data = {"username": f"user{i}", "password1": "a-long-pass-phrase", "password2": "a-long-pass-phrase"}
        assert client.post("/accounts/signup/", data).status_code == 302
        client.logout()
    data = {"username": "user9", "password1": "a-long-pass-phrase", "password2": "a-long-pass-phrase"}
    response = client.post("/accounts/signup/", data)
    assert response.status_code == 429
    assert b"Too many attempts" in response.content
    assert client.get("/accounts/signup/").status_code == 200  # the form itself is still shown


def test_counts_are_shared_through_redis(rates, settings, redis_server):
    """In production the counts live in Redis, shared by every web process."""
    settings.CACHES = {
        **settings.CACHES,
        "throttle": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_server,
            "KEY_PREFIX": "throttle-test",
        },
    }
    rates["search_ip"] = "2/min"
    client = api_client()
    for _ in range(2):
        assert client.get("/api/search/", {"q": ""}).status_code == 400
    assert_throttled(client.get("/api/search/", {"q": ""}))
    keys = redis.Redis.from_url(redis_server).keys("throttle-test*")
    assert keys, "no throttle counter in Redis"
    caches["throttle"].clear()


def test_an_unreachable_throttle_cache_neither_fails_nor_stops_throttling(rates, settings):
    settings.CACHES = {
        **settings.CACHES,
        "throttle": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",  # nothing listens on the discard port
            "OPTIONS": {"socket_connect_timeout": 0.5},
        },
    }
    rates["search_ip"] = "2/min"
    client = api_client()
    for _ in range(2):
        assert client.get("/api/search/", {"q": ""}).status_code == 400
    assert_throttled(client.get("/api/search/", {"q": ""}))
