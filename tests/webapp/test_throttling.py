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
    assert int(response["Retry-After"]) >= 1
    assert b"Too many sign-ups" in response.content
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


# ---------------------------------------------------------------------------- the client's address
# (issue 15 item 4): REMOTE_ADDR, or X-Forwarded-For only behind TRUSTED_PROXIES proxies.

PROXY = "10.0.0.1"
CLIENT_A, CLIENT_B = "203.0.113.5", "198.51.100.7"


@pytest.mark.parametrize(
    ("proxies", "meta", "expected"),
    [
        (0, {"REMOTE_ADDR": CLIENT_A, "HTTP_X_FORWARDED_FOR": "1.2.3.4"}, CLIENT_A),
        (1, {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": CLIENT_A}, CLIENT_A),
        # What the client sent itself stands left of what the proxy appended: never used.
        (1, {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": f"1.2.3.4, {CLIENT_A}"}, CLIENT_A),
        (2, {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": f"1.2.3.4,{CLIENT_A}, 10.0.0.2"}, CLIENT_A),
        (1, {"REMOTE_ADDR": PROXY}, PROXY),  # no header: the proxy itself
        (1, {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": "not-an-address"}, PROXY),
        (1, {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": "2001:DB8::1"}, "2001:db8::1"),
    ],
)
def test_client_address(settings, proxies, meta, expected):
    from django.test import RequestFactory

    from webapp.throttling import client_address

    settings.TRUSTED_PROXIES = proxies
    assert client_address(RequestFactory().get("/", **meta)) == expected


def test_a_changing_forwarded_header_gives_no_fresh_budget_without_a_trusted_proxy(rates, settings):
    settings.TRUSTED_PROXIES = 0
    rates["auth_ip"] = "3/min"
    rates["search_ip"] = "3/min"
    client = api_client()
    for n in range(3):
        forged = {"HTTP_X_FORWARDED_FOR": f"192.0.2.{n}"}
        assert (
            client.post("/api/auth/token/", {"username": f"u{n}", "password": "x"}, **forged).status_code
            == 400
        )
        assert client.get("/api/search/", {"q": ""}, **forged).status_code == 400
    forged = {"HTTP_X_FORWARDED_FOR": "192.0.2.99"}
    assert_throttled(client.post("/api/auth/token/", {"username": "u9", "password": "x"}, **forged))
    assert_throttled(client.get("/api/search/", {"q": ""}, **forged))
    page = Client(HTTP_X_FORWARDED_FOR="192.0.2.100").get("/search/", {"q": ""})
    assert page.status_code == 429  # the page door counts in the same bucket, by the same address


def test_behind_a_trusted_proxy_each_client_has_its_own_budget(rates, settings):
    settings.TRUSTED_PROXIES = 1
    rates["search_ip"] = "2/min"
    client = api_client()

    def search(chain: str):
        return client.get("/api/search/", {"q": ""}, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=chain)

    for _ in range(2):
        assert search(CLIENT_A).status_code == 400
    assert_throttled(search(f"192.0.2.77, {CLIENT_A}"))  # a forged entry in front changes nothing
    assert search(CLIENT_B).status_code == 400  # another client behind the same proxy goes on
    page = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=CLIENT_A).get("/search/", {"q": ""})
    assert page.status_code == 429


# ---------------------------------------------------------------------------- lockout (item 6)
# django-axes locks a username at one address: failures from one address never lock the owner out
# at another, without a proxy (REMOTE_ADDR) or behind one (its X-Forwarded-For).

DIRECT = (0, {"REMOTE_ADDR": CLIENT_A}, {"REMOTE_ADDR": CLIENT_B})
PROXIED = (
    1,
    {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": CLIENT_A},
    {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": CLIENT_B},
)


@pytest.mark.parametrize(
    ("proxies", "attacker", "owner"), [DIRECT, PROXIED], ids=["direct", "behind-a-proxy"]
)
def test_failures_from_one_address_never_lock_the_owner_out_at_another(
    rates, settings, proxies, attacker, owner
):
    from axes.models import AccessAttempt

    settings.TRUSTED_PROXIES = proxies
    settings.AXES_FAILURE_LIMIT = 3
    make_user("alice")
    wrong, right = {"username": "alice", "password": "nope"}, {"username": "alice", "password": PASSWORD}
    for _ in range(3):
        Client(**attacker).post("/accounts/login/", wrong)
        api_client().post("/api/auth/token/", wrong, **attacker)
    response = Client(**attacker).post("/accounts/login/", right)
    assert response.status_code == 429 and b"Too many failed sign-ins" in response.content
    assert_throttled(api_client().post("/api/auth/token/", right, **attacker))
    # The attempts are recorded against the attacker's real address, not the proxy's.
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {CLIENT_A}

    owner_client = Client(**owner)
    assert owner_client.post("/accounts/login/", right).status_code == 302
    assert "_auth_user_id" in owner_client.session
    assert "token" in api_client().post("/api/auth/token/", right, **owner).json()


def test_without_a_trusted_proxy_a_forged_header_does_not_escape_the_lockout(rates, settings):
    settings.TRUSTED_PROXIES = 0
    settings.AXES_FAILURE_LIMIT = 3
    make_user("alice")
    for n in range(3):
        Client(HTTP_X_FORWARDED_FOR=f"192.0.2.{n}").post(
            "/accounts/login/", {"username": "alice", "password": "x"}
        )
    response = Client(HTTP_X_FORWARDED_FOR="192.0.2.50").post(
        "/accounts/login/", {"username": "alice", "password": PASSWORD}
    )
    assert response.status_code == 429


# ---------------------------------------------------------------------------- page doors (item 5)
# Each page that does the work of an API door counts in the same bucket, whichever door is used.


def assert_page_throttled(response) -> None:
    assert response.status_code == 429, response.content[:300]
    assert int(response["Retry-After"]) >= 1
    assert b"<nav" in response.content  # in the site's layout
    assert b"try again in" in response.content


def test_the_search_page_and_the_search_api_share_one_budget(rates):
    rates["search_ip"] = "3/min"
    page, api = Client(), api_client()
    assert page.get("/search/").status_code == 200  # the blank form is not a search
    assert page.get("/search/", {"q": ""}).status_code == 400
    assert api.get("/api/search/", {"q": ""}).status_code == 400
    assert page.head("/search/", {"q": ""}).status_code == 400  # HEAD runs the whole GET view
    assert_page_throttled(page.get("/search/", {"q": "red car"}))
    assert_page_throttled(Client().get("/search/", {"similar": "1"}))  # a new cookie changes nothing
    assert_throttled(api.get("/api/search/", {"q": ""}))


def test_signed_in_searches_count_per_user_on_both_doors(rates):
    alice = make_user("alice")
    rates["search"] = "2/min"
    page = Client()
    page.force_login(alice)
    assert page.get("/search/", {"q": ""}).status_code == 400
    assert api_client(alice).get("/api/search/", {"q": ""}).status_code == 400
    assert_page_throttled(page.get("/search/", {"q": ""}))


def test_example_uploads_on_the_page_are_throttled_whatever_the_session(rates):
    rates["search_image_ip"] = "2/min"
    for _ in range(2):  # a fresh cookie each time: the per-session cap is no limit here
        assert Client().post("/search/", {}).status_code == 400  # no image sent
    assert_page_throttled(Client().post("/search/", {}))
    assert_throttled(api_client().post("/api/search/", {}, format="multipart"))
    assert Client().get("/search/", {"q": ""}).status_code == 400  # words have their own budget


def test_the_upload_form_counts_each_file_in_the_api_uploads_budget(rates):
    from django.core.files.uploadedfile import SimpleUploadedFile

    alice = make_user("alice")
    rates["upload"] = "4/hour"
    page = Client()
    page.force_login(alice)

    def files(n: int) -> list:
        return [SimpleUploadedFile(f"f{i}.png", b"not an image", content_type="image/png") for i in range(n)]

    assert page.post("/upload/", {"files": files(2)}).status_code == 302  # refused files, still counted
    assert api_client(alice).post("/api/images/", {}, format="multipart").status_code == 400
    assert_page_throttled(page.post("/upload/", {"files": files(2)}))  # 3 + 2 > 4
    assert page.post("/upload/", {"files": files(1)}).status_code == 302  # the 4th fits
    assert_throttled(api_client(alice).post("/api/images/", {}, format="multipart"))


def test_the_login_page_and_the_token_endpoint_share_one_budget(rates):
    rates["auth_ip"] = "3/min"
    for n in range(2):  # different names: the lockout (per name and address) is not what stops them
        assert Client().post("/accounts/login/", {"username": f"u{n}", "password": "x"}).status_code == 200
    assert api_client().post("/api/auth/token/", {"username": "u8", "password": "x"}).status_code == 400
    response = Client().post("/accounts/login/", {"username": "u9", "password": "x"})
    assert_page_throttled(response)
    assert b"Too many sign-in attempts" in response.content
    assert Client().get("/accounts/login/").status_code == 200  # the form itself is still shown
