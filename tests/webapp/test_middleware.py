"""BodySizeLimitMiddleware: a body over its path's limit is refused from its Content-Length (413,
in the project's error shape) before Django reads or spools any of it."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.test import Client

from tests.factories import PASSWORD, api_client, make_image, make_user
from webapp.middleware import MULTIPART_OVERHEAD_BYTES, body_limit

pytestmark = pytest.mark.django_db

MB = 1024 * 1024
CSRF = "k" * 32


def claimed(client: Client, method: str, path: str, length: int, content_type: str = "multipart/form-data"):
    """A request that claims `length` bytes but sends only a few: reading past them fails the test
    client (FakePayload), so a 413 proves the body was never read."""
    return client.generic(
        method, path, b"--x--", content_type=f"{content_type}; boundary=x", CONTENT_LENGTH=str(length)
    )


def test_runs_before_anything_that_reads_the_body():
    order = settings.MIDDLEWARE
    mine = order.index("webapp.middleware.BodySizeLimitMiddleware")
    for reader in (
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.sessions.middleware.SessionMiddleware",
    ):
        assert mine < order.index(reader)


def test_limits_per_path():
    one = settings.MAX_UPLOAD_BYTES + MULTIPART_OVERHEAD_BYTES
    assert (
        body_limit("/upload/")[0]
        == settings.MAX_FILES_PER_UPLOAD * settings.MAX_UPLOAD_BYTES + MULTIPART_OVERHEAD_BYTES
    )
    assert body_limit("/api/images/")[0] == one
    assert body_limit("/search/")[0] == one
    assert body_limit("/api/search/")[0] == one
    assert body_limit("/api/images/3/")[0] == settings.MAX_REQUEST_BODY_BYTES
    for path in ("/moderation/bans/", "/api/moderation/bans/import/"):
        assert body_limit(path)[0] == settings.MODERATION_IMPORT_MAX_BYTES + MULTIPART_OVERHEAD_BYTES
    assert body_limit("/accounts/login/")[0] == settings.MAX_REQUEST_BODY_BYTES


def test_search_page_refuses_a_huge_post_signed_out_with_a_page():
    response = claimed(Client(), "POST", "/search/", 300 * MB)
    assert response.status_code == 413
    assert response["Content-Type"].startswith("text/html")
    assert b"The upload is too large (300.0 MB)" in response.content
    assert b"<nav" in response.content or b"<header" in response.content  # in the site's layout


def test_api_refuses_with_json():
    response = claimed(api_client(), "POST", "/api/search/", 300 * MB)
    assert response.status_code == 413
    body = response.json()
    assert "too large" in body["error"] and "one image of 50.0 MB" in body["error"]


def test_json_edit_over_the_small_limit_is_refused():
    alice = make_user("alice")
    image = make_image(alice)
    response = claimed(api_client(alice), "PATCH", f"/api/images/{image.pk}/", 2 * MB, "application/json")
    assert response.status_code == 413
    assert response.json()["error"] == "The request body is too large (2.0 MB); the limit here is 1.0 MB."


def test_login_form_over_the_small_limit_is_refused():
    response = claimed(Client(), "POST", "/accounts/login/", 5 * MB, "application/x-www-form-urlencoded")
    assert response.status_code == 413


def test_upload_page_allows_many_images_but_not_more():
    make_user("alice")
    client = Client()
    assert client.login(username="alice", password=PASSWORD)
    limit = body_limit("/upload/")[0]
    assert claimed(client, "POST", "/upload/", limit + 1).status_code == 413
    # Within the limit the request goes on to the view (which finds no files in this body).
    assert claimed(client, "POST", "/upload/", 5).status_code != 413


@pytest.mark.parametrize("path", ["/search/", "/upload/"])
def test_a_refusal_reaches_the_client_while_the_body_is_still_unsent(live_server, path):
    """Against a real server, signed in with a valid CSRF pair (so nothing before the view refuses
    the request unread): the headers claim more than the limit, a few bytes follow, and the 413
    must come back while the rest is unsent; a server that read or spooled the body first would
    wait for it forever, and the read below would time out instead (a guard, not a speed bound)."""
    make_user("alice")
    client = Client()
    assert client.login(username="alice", password=PASSWORD)
    session = client.cookies["sessionid"].value
    url = urlsplit(live_server.url)
    with socket.create_connection((url.hostname, url.port), timeout=60) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: localhost\r\n".encode()
            + f"Cookie: sessionid={session}; csrftoken={CSRF}\r\nX-CSRFToken: {CSRF}\r\n".encode()
            + b"Content-Type: multipart/form-data; boundary=x\r\n"
            + f"Content-Length: {body_limit(path)[0] + 1}\r\n\r\n".encode()
            + b'--x\r\nContent-Disposition: form-data; name="files"; filename="a.png"\r\n'
            + b"Content-Type: image/png\r\n\r\n"
            + b"\x89PNG" * 1024
        )
        head = sock.recv(4096)  # the body's remaining bytes are never sent
    assert head.startswith(b"HTTP/1.1 413"), head[:200]
