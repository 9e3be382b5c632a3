"""Finding 4 of the hardening audit, as probes: NUL bytes, integers past any database's range, deep
or huge JSON. Each gets a 400 with `{"error": ...}` (or the error page), never a 500, on SQLite and on
PostgreSQL (`TEST_DATABASE_URL`), and a refused upload leaves no file behind."""

from __future__ import annotations

import json

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from tests.factories import PASSWORD, api_client, draw_image, image_bytes, make_image, noise_png

pytestmark = pytest.mark.django_db

NUL = "\x00"
HUGE = "99999999999999999999999"
LIST_PARAMS = ["owner", "tag", "visibility", "status", "created_after", "created_before", "ids"]
SEARCH_PARAMS = [
    "q",
    "owner",
    "visibility",
    "created_after",
    "created_before",
    "limit",
    "offset",
    "min_score",
    "sort",
]


def api_error(response, status: int = 400) -> str:
    assert response.status_code == status, response.content[:300]
    body = response.json()
    assert set(body) >= {"error"} and body["error"], body
    return body["error"]


def page_error(response, status: int = 400) -> None:
    assert response.status_code == status, response.content[:300]
    assert b"<html" in response.content.lower()


@pytest.mark.parametrize("name", LIST_PARAMS)
@pytest.mark.parametrize("value", [NUL, f"a{NUL}b", HUGE, "\x01"])
def test_image_list_parameters_never_500(name, value):
    response = api_client().get("/api/images/", {name: value})
    if response.status_code == 200:  # a value that is merely unknown filters to nothing
        assert value in ("\x01",) or name in ("owner", "tag"), (name, value)
        return
    api_error(response)


@pytest.mark.parametrize("name", ["owner", "tag", "status", "ids", "page"])
@pytest.mark.parametrize("value", [NUL, HUGE])
def test_gallery_parameters_never_500(name, value):
    response = Client().get("/", {name: value})
    assert response.status_code in (200, 400), (name, value, response.status_code)
    if response.status_code == 400:
        page_error(response)


# A huge number is a fine query text or owner name (an unknown one filters to nothing).
BAD_SEARCH = [(name, NUL) for name in SEARCH_PARAMS] + [
    (name, HUGE) for name in SEARCH_PARAMS if name not in ("q", "owner")
]


@pytest.mark.parametrize(("name", "value"), BAD_SEARCH)
def test_search_parameters_are_refused_before_any_work(name, value):
    api_error(api_client().get("/api/search/", {"q": "cat", name: value}))


@pytest.mark.parametrize("name", ["owner", "q", "limit", "similar"])
def test_search_page_parameters_never_500(name):
    for value in (NUL, HUGE):
        response = Client().get("/search/", {"q": "cat", name: value})
        assert response.status_code in (200, 400, 503), (name, value, response.status_code)


@pytest.mark.parametrize(
    "path",
    [
        "/api/images/999999999999999999999999/",
        "/images/99999999999999999999999/",
        "/api/images/99999999999999999999999/similar/",
        "/media/images/99999999999999999999999/original",
    ],
)
def test_ids_in_paths_past_any_database_are_404(path):
    assert Client().get(path).status_code == 404


def test_upload_title_with_nul_is_refused_and_leaves_no_file(alice):
    data = noise_png()
    upload = SimpleUploadedFile("nul.png", data, "image/png")
    response = api_client(alice).post(
        "/api/images/", {"file": upload, "title": f"a{NUL}b"}, format="multipart"
    )
    assert "title" in api_error(response)
    import hashlib

    sha = hashlib.sha256(data).hexdigest()
    assert not default_storage.exists(f"originals/{sha[:2]}/{sha[2:4]}/{sha}.png")


def test_upload_page_title_with_nul_is_refused(alice):
    client = Client()
    assert client.login(username="alice", password=PASSWORD)
    upload = SimpleUploadedFile("nul.png", noise_png(), "image/png")
    response = client.post("/upload/", {"files": [upload], "title": f"x{NUL}"}, follow=True)
    assert response.status_code == 200
    assert b"Null characters" in response.content


@pytest.mark.parametrize(
    "body",
    [
        {"title": f"a{NUL}"},
        {"tags": [f"a{NUL}"]},
        {"visibility": NUL},
        {"tags": [[[[1]]]]},
        {"tags": {"a": 1}},
    ],
)
def test_edit_with_bad_values_is_a_400(alice, body):
    image = make_image(alice)
    response = api_client(alice).patch(f"/api/images/{image.pk}/", body, format="json")
    api_error(response)
    image.refresh_from_db()
    assert NUL not in image.title


def test_edit_page_title_with_nul_is_refused(alice):
    image = make_image(alice)
    client = Client()
    assert client.login(username="alice", password=PASSWORD)
    response = client.post(f"/images/{image.pk}/edit/", {"title": f"a{NUL}"}, follow=True)
    assert response.status_code == 200
    image.refresh_from_db()
    assert NUL not in image.title


def test_deeply_nested_json_is_a_400(alice):
    image = make_image(alice)
    body = "[" * 100_000 + "]" * 100_000
    response = api_client(alice).generic("PATCH", f"/api/images/{image.pk}/", body, "application/json")
    assert "nested" in api_error(response).lower()


def test_json_nested_just_past_the_limit_is_refused_and_within_it_is_parsed(alice, settings):
    image = make_image(alice)
    client = api_client(alice)
    deep = {
        "title": "ok",
        "x": json.loads("[" * (settings.MAX_JSON_DEPTH + 1) + "]" * (settings.MAX_JSON_DEPTH + 1)),
    }
    api_error(client.patch(f"/api/images/{image.pk}/", deep, format="json"))
    shallow = {
        "title": "ok",
        "x": json.loads("[" * (settings.MAX_JSON_DEPTH - 2) + "]" * (settings.MAX_JSON_DEPTH - 2)),
    }
    assert client.patch(f"/api/images/{image.pk}/", shallow, format="json").status_code == 200


def test_large_json_body_is_a_413(alice, settings):
    image = make_image(alice)
    body = json.dumps({"title": "x" * (settings.MAX_JSON_BYTES + 10)})
    response = api_client(alice).generic("PATCH", f"/api/images/{image.pk}/", body, "application/json")
    api_error(response, 413)


def test_invalid_utf8_json_is_a_400(alice):
    image = make_image(alice)
    response = api_client(alice).generic(
        "PATCH", f"/api/images/{image.pk}/", b'{"title": "\xff"}', "application/json"
    )
    api_error(response)


def test_token_endpoint_with_nul_is_not_a_500(alice):
    response = api_client().post("/api/auth/token/", {"username": f"alice{NUL}", "password": PASSWORD})
    assert response.status_code == 400


def test_login_and_signup_pages_with_nul_are_not_500():
    client = Client()
    for path, data in (
        ("/accounts/login/", {"username": NUL, "password": NUL}),
        ("/accounts/signup/", {"username": NUL, "password1": NUL, "password2": NUL}),
    ):
        assert client.post(path, data).status_code in (200, 400), path


def test_search_by_example_with_nul_text_is_a_400():
    upload = SimpleUploadedFile("q.png", image_bytes(draw_image("circle")), "image/png")
    api_error(api_client().post("/api/search/", {"image": upload, "q": f"a{NUL}"}, format="multipart"))


@pytest.mark.parametrize("endpoint", ["similar", "duplicates"])
@pytest.mark.parametrize("name", ["limit", "min_score", "owner", "offset", "visibility"])
def test_similar_and_duplicates_parameters_are_refused_before_any_work(alice, endpoint, name):
    image = make_image(alice)
    for value in (NUL, HUGE):
        if name == "owner" and value == HUGE:
            continue  # a name nobody has: filters to nothing
        response = api_client().get(f"/api/images/{image.pk}/{endpoint}/", {name: value})
        api_error(response)
