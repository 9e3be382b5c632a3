"""Where errors become responses (`webapp.errors`): every API error is JSON `{"error": ...}` with the
right status, every page error is shown inside the site layout. DEBUG is off in tests, so Django
answers with the handlers wired in `webapp/urls.py`."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils.html import escape

from launcher.stack import free_port
from search.engines.vector_store import VectorStoreError
from search.index import forget_collections
from tests.factories import PASSWORD, api_client, index, make_image, make_user

pytestmark = pytest.mark.django_db

HUGE = str(200 * 1024 * 1024)  # a Content-Length far over one upload's limit


def too_large(message: str) -> bool:
    """The refusal names the size sent (the exact words belong to ingestion.validation)."""
    return "too large" in message and "200.0 MB" in message


@pytest.fixture(autouse=True)
def upload_limit(settings) -> None:
    settings.MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # the limit the messages above name


@pytest.fixture
def bob():
    return make_user("bob")


def json_error(response, status: int) -> str:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert isinstance(body.get("error"), str) and body["error"], body
    return body["error"]


def page_error(response, status: int) -> str:
    assert response.status_code == status
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert 'class="topbar"' in html  # inside the site layout
    assert 'id="error-page"' in html
    return html


def signed_in(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def truncated_multipart(field: str) -> bytes:
    """The first bytes of an upload whose Content-Length promises far more: reading on would fail
    in the test client, so a 413 here shows the body was refused unread."""
    return (
        (
            f'--BoUnDaRy\r\nContent-Disposition: form-data; name="{field}"; filename="a.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + b"\x89PNG\r\n\x1a\n"
        + b"\0" * 2000
    )


# ---------------------------------------------------------------------------- API: routing


@pytest.mark.parametrize("path", ["/api/nope/", "/api/nope", "/api/images/1/nope/"])
def test_an_unknown_api_url_is_a_json_404(path: str) -> None:
    assert json_error(Client().get(path), 404) == "Not found."


def test_a_wrong_method_is_a_json_405(alice) -> None:
    assert json_error(Client().delete("/api/search/"), 405) == 'Method "DELETE" not allowed.'
    assert json_error(Client().get("/api/auth/token/"), 405) == 'Method "GET" not allowed.'


def test_put_on_an_image_is_a_json_405(alice) -> None:
    image = make_image(alice)
    response = api_client(alice).put(f"/api/images/{image.pk}/", {"title": "x"}, format="json")
    assert json_error(response, 405) == 'Method "PUT" not allowed.'


@pytest.mark.parametrize(
    "path",
    [
        "/api/images/99999999999999999999999/",
        "/api/images/9223372036854775808/",
        "/api/images/99999999999999999999999/similar/",
        "/api/images/99999999999999999999999/duplicates/",
        "/api/images/0/",
    ],
)
def test_ids_too_large_for_the_database_are_a_json_404(path: str) -> None:
    assert json_error(Client().get(path), 404) == "No such image."


def test_an_unsupported_body_type_is_json(alice) -> None:
    response = api_client(alice).post("/api/images/", {"title": "x"}, format="json")
    assert "application/json" in json_error(response, 415)


def test_too_many_parameters_is_djangos_400_in_json() -> None:
    query = "&".join(f"p{i}=1" for i in range(1100))  # over DATA_UPLOAD_MAX_NUMBER_FIELDS
    assert json_error(Client().get(f"/api/images/?{query}"), 400) == "The request could not be understood."


# ---------------------------------------------------------------------------- API: bodies


def test_an_upload_over_the_limit_is_refused_unread(alice) -> None:
    response = api_client(alice).generic(
        "POST",
        "/api/images/",
        truncated_multipart("file"),
        content_type="multipart/form-data; boundary=BoUnDaRy",
        CONTENT_LENGTH=HUGE,
    )
    assert too_large(json_error(response, 413))


def test_a_search_image_over_the_limit_is_refused_unread() -> None:
    response = api_client().generic(
        "POST",
        "/api/search/?q=cat",
        truncated_multipart("image"),
        content_type="multipart/form-data; boundary=BoUnDaRy",
        CONTENT_LENGTH=HUGE,
    )
    assert too_large(json_error(response, 413))


def test_malformed_json_is_a_json_400(alice) -> None:
    image = make_image(alice)
    response = api_client(alice).patch(
        f"/api/images/{image.pk}/", data='{"title": ', content_type="application/json"
    )
    assert "JSON" in json_error(response, 400)
    image.refresh_from_db()
    assert image.title == "circle"


def test_a_json_list_instead_of_an_object_is_a_400(alice) -> None:
    image = make_image(alice)
    response = api_client(alice).patch(f"/api/images/{image.pk}/", ["title", "x"], format="json")
    assert json_error(response, 400) == "Send the changes as a JSON object or form fields."


def test_a_bad_field_in_an_edit_is_a_json_400(alice) -> None:
    image = make_image(alice)
    response = api_client(alice).patch(f"/api/images/{image.pk}/", {"visibility": "friends"}, format="json")
    assert json_error(response, 400) == "visibility must be 'public' or 'private'."


# ---------------------------------------------------------------------------- API: who may


def test_changing_another_users_image_is_a_json_403(alice, bob) -> None:
    image = make_image(alice)
    response = api_client(bob).patch(f"/api/images/{image.pk}/", {"title": "mine"}, format="json")
    assert json_error(response, 403) == "Only the owner can change this image."
    response = api_client(bob).delete(f"/api/images/{image.pk}/")
    assert json_error(response, 403) == "Only the owner can delete this image."
    image.refresh_from_db()
    assert image.title == "circle"


def test_writing_signed_out_is_a_json_401(alice) -> None:
    image = make_image(alice)
    client = api_client()
    assert json_error(client.patch(f"/api/images/{image.pk}/", {"title": "x"}, format="json"), 401)
    assert json_error(client.delete(f"/api/images/{image.pk}/"), 401)
    assert json_error(client.post("/api/images/", {}, format="multipart"), 401)


def test_a_bad_token_is_a_json_401() -> None:
    client = Client(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert json_error(client.get("/api/images/"), 401) == "Invalid token."


# ---------------------------------------------------------------------------- API: services down


@pytest.mark.usefixtures("clean_index")
def test_a_service_down_inside_an_api_view_is_a_json_503_hiding_the_address(alice, settings) -> None:
    image = make_image(alice)
    index(image)
    port = free_port()
    forget_collections()
    settings.MILVUS_URI = f"http://127.0.0.1:{port}"
    try:
        response = Client().get(f"/api/images/{image.pk}/similar/")
        page = Client().get(f"/search/?similar={image.pk}")
    finally:
        forget_collections()

    message = json_error(response, 503)
    assert message == VectorStoreError.public_default
    assert str(port) not in response.content.decode()
    assert "127.0.0.1" not in response.content.decode()
    # The search page says the same, in place.
    assert page.status_code == 503
    assert escape(VectorStoreError.public_default) in page.content.decode()
    assert str(port) not in page.content.decode()


# ---------------------------------------------------------------------------- pages


@pytest.mark.parametrize("path", ["/no-such-page/", "/images/1/nope/", "/media/images/x/original"])
def test_an_unknown_page_is_a_404_in_the_layout(path: str) -> None:
    html = page_error(Client().get(path), 404)
    assert "Not found." in html


def test_another_users_private_image_page_is_a_404_in_the_layout(alice, bob) -> None:
    image = make_image(alice, visibility="private")
    html = page_error(signed_in(bob).get(f"/images/{image.pk}/"), 404)
    assert "No such image." in html
    assert signed_in(alice).get(f"/images/{image.pk}/").status_code == 200


def test_an_image_page_with_an_id_too_large_is_a_404_in_the_layout() -> None:
    page_error(Client().get("/images/99999999999999999999999/"), 404)


def test_an_edit_by_someone_else_is_a_403_in_the_layout(alice, bob) -> None:
    image = make_image(alice)
    client = signed_in(bob)
    html = page_error(client.post(f"/images/{image.pk}/edit/", {"title": "mine"}), 403)
    assert "Only the owner can change this image." in html
    html = page_error(client.post(f"/images/{image.pk}/delete/"), 403)
    assert "Only the owner can delete this image." in html
    image.refresh_from_db()
    assert image.title == "circle"


def test_a_bad_filter_on_a_page_is_a_400_in_the_layout() -> None:
    html = page_error(Client().get("/?ids=99999999999999999999999"), 400)
    assert "ids must be a comma-separated list of at most 200 image ids." in html


def test_too_many_parameters_on_a_page_is_a_400_in_the_layout() -> None:
    query = "&".join(f"p{i}=1" for i in range(1100))
    html = page_error(Client().get(f"/?{query}"), 400)
    assert "The request could not be understood." in html
