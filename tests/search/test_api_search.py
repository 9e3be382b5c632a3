"""Search API: text, example image, image plus text, similar; failures map to clear 400/503."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from ingestion.models import Image
from search.encoder import get_encoder
from search.queries import QueryVector, combine
from tests.factories import api_client, draw_image, image_bytes, index, make_image, make_user

pytestmark = pytest.mark.django_db

RESULT_FIELDS = {"id", "score", "title", "thumbnail_url", "url", "created_at", "owner"}


@pytest.fixture(autouse=True)
def search_limits(settings) -> None:
    """The limits the messages below name, whatever the environment says."""
    settings.SEARCH_MAX_LIMIT = 200
    settings.SEARCH_DEFAULT_LIMIT = 50


def upload(kind: str, fmt: str = "PNG", data: bytes | None = None) -> SimpleUploadedFile:
    data = data if data is not None else image_bytes(draw_image(kind), fmt)
    return SimpleUploadedFile(f"{kind}.{fmt.lower()}", data, f"image/{fmt.lower()}")


@pytest.fixture
def shapes(clean_index) -> dict[str, Image]:
    alice = make_user("alice")
    images = {kind: make_image(alice, kind, title=f"A {kind}") for kind in ("circle", "square", "stripes")}
    images["secret"] = make_image(alice, "triangle", visibility="private")
    index(*images.values())
    return images


# ---------------------------------------------------------------------------- no worker needed


@pytest.mark.parametrize("q", [None, "", "   "])
def test_an_empty_text_query_is_400(q) -> None:
    response = APIClient().get("/api/search/", {} if q is None else {"q": q})
    assert response.status_code == 400
    assert response.json() == {"error": "Type something to search for: the q parameter is empty."}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"q": "cat", "limit": "1000"}, "limit must be between 1 and 200."),
        ({"q": "cat", "min_score": "2"}, "min_score must be a number between -1 and 1."),
        ({"q": "cat", "sort": "size"}, "sort must be 'relevance' or 'date'."),
        ({"q": "cat", "created_after": "2024-13-01"}, "created_after must be a date"),
        ({"q": "cat", "owner": "me"}, "owner=me needs you to be signed in."),
        ({"q": "x" * 1001}, "The query is too long; the limit is 1000 characters."),
    ],
)
def test_bad_parameters_are_400(params: dict, message: str) -> None:
    response = APIClient().get("/api/search/", params)
    assert response.status_code == 400
    assert response.json()["error"] == message or message in response.json()["error"]


def test_image_search_needs_a_usable_image() -> None:
    client = APIClient()
    response = client.post("/api/search/", {}, format="multipart")
    assert response.status_code == 400
    assert "multipart form field named 'image'" in response.json()["error"]

    broken = image_bytes(draw_image("circle"), "JPEG")[:500]
    response = client.post("/api/search/", {"image": upload("circle", "JPEG", broken)}, format="multipart")
    assert response.status_code == 400
    assert "'circle.jpeg' is a damaged or unreadable image" in response.json()["error"]

    text = SimpleUploadedFile("q.png", b"hello", "image/png")
    response = client.post("/api/search/", {"image": text}, format="multipart")
    assert response.status_code == 400 and "not an image" in response.json()["error"]


def test_no_query_worker_is_a_clear_503(settings) -> None:
    settings.QUERY_QUEUE = "nobody-consumes-this-queue"
    settings.QUERY_TIMEOUT = 1.0
    response = APIClient().get("/api/search/", {"q": "a red circle"})
    assert response.status_code == 503
    assert response.json()["error"] == "No search worker answered within 1 s. Is the query worker running?"
    response = APIClient().post("/api/search/", {"image": upload("circle")}, format="multipart")
    assert response.status_code == 503
    assert "No search worker answered" in response.json()["error"]


def test_similar_uses_the_stored_vector(shapes: dict[str, Image]) -> None:
    response = APIClient().get(f"/api/images/{shapes['circle'].pk}/similar/", {"limit": 5})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["model"] == shapes["circle"].embedding_model
    assert {r["id"] for r in body["results"]} == {shapes["square"].pk, shapes["stripes"].pk}
    assert body["count"] == 2
    assert set(body["results"][0]) >= RESULT_FIELDS

    only_best = APIClient().get(f"/api/images/{shapes['circle'].pk}/similar/", {"limit": 1}).json()
    assert only_best["results"] == body["results"][:1]


def test_similar_respects_visibility_and_indexing(shapes: dict[str, Image]) -> None:
    secret = shapes["secret"]
    assert APIClient().get(f"/api/images/{secret.pk}/similar/").status_code == 404
    assert api_client(make_user("bob")).get(f"/api/images/{secret.pk}/similar/").status_code == 404
    own = api_client(secret.owner).get(f"/api/images/{secret.pk}/similar/")
    assert own.status_code == 200
    assert secret.pk not in {r["id"] for r in own.json()["results"]}
    assert APIClient().get("/api/images/999999/similar/").status_code == 404

    pending = make_image(secret.owner, "circle", color=(0, 200, 0))
    response = APIClient().get(f"/api/images/{pending.pk}/similar/")
    assert response.status_code == 400
    assert "not indexed yet" in response.json()["error"]


def test_openapi_schema_and_offline_docs(client) -> None:
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    text = schema.content.decode()
    assert text.startswith("openapi: 3.")
    for path in ("/api/images/", "/api/images/{id}/", "/api/search/", "/api/images/{id}/similar/"):
        assert f"  {path}:" in text
    json_schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    assert json_schema["openapi"].startswith("3.")

    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower() and "unpkg" not in html.lower()
    bundle = client.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert bundle.status_code == 200


# ---------------------------------------------------------------------------- with the query worker


@pytest.mark.integration
def test_text_search(workers, shapes: dict[str, Image]) -> None:
    response = APIClient().get("/api/search/", {"q": "a red shape", "limit": 10})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["model"] == "demo"
    results = body["results"]
    public = {shapes[k].pk for k in ("circle", "square", "stripes")}
    assert {r["id"] for r in results} == public
    assert set(results[0]) >= RESULT_FIELDS
    assert [r["score"] for r in results] == sorted((r["score"] for r in results), reverse=True)
    # The scores are cosines with the worker's text embedding.
    text = get_encoder().encode_texts(["a red shape"])[0]
    for r in results:
        expected = float(np.dot(text, Image.objects.get(pk=r["id"]).embedding_vector()))
        assert r["score"] == pytest.approx(expected, abs=1e-3)

    mine = api_client(shapes["secret"].owner).get("/api/search/", {"q": "a red shape", "owner": "me"})
    assert {r["id"] for r in mine.json()["results"]} == public | {shapes["secret"].pk}


@pytest.mark.integration
def test_image_search_and_image_with_text(workers, shapes: dict[str, Image]) -> None:
    client = APIClient()
    response = client.post("/api/search/", {"image": upload("square")}, format="multipart")
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert results[0]["id"] == shapes["square"].pk
    assert results[0]["score"] == pytest.approx(1.0, abs=1e-3)
    assert shapes["secret"].pk not in {r["id"] for r in results}

    response = client.post(
        "/api/search/?min_score=-1", {"image": upload("square"), "q": "at night"}, format="multipart"
    )
    assert response.status_code == 200, response.content
    combined = response.json()["results"]
    encoder = get_encoder()
    query = combine(
        QueryVector("demo", shapes["square"].embedding_vector()),
        QueryVector("demo", encoder.encode_texts(["at night"])[0]),
    )
    for r in combined:
        expected = float(np.dot(query.vector, Image.objects.get(pk=r["id"]).embedding_vector()))
        assert r["score"] == pytest.approx(expected, abs=1e-3)
    assert combined[0]["score"] < 0.999  # the words moved the query away from the picture
