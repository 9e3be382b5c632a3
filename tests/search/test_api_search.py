"""Search API: text, example image, image plus text, similar; failures map to clear 400/503."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from ingestion.models import Image
from search.engines.encoder import get_encoder
from search.query import queries
from search.query.queries import QueryVector, weighted
from tests.factories import (
    api_client,
    draw_image,
    image_bytes,
    index,
    make_image,
    make_user,
    model_of,
    noise_png,
    read_words,
    vector_of,
)

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
    assert body["model"] == model_of(shapes["circle"])
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
        expected = float(np.dot(text, vector_of(Image.objects.get(pk=r["id"]))))
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
    query = weighted(
        [
            (1.0, QueryVector("demo", vector_of(shapes["square"]))),
            (1.0, QueryVector("demo", encoder.encode_texts(["at night"])[0])),
        ]
    )
    for r in combined:
        expected = float(np.dot(query.vector, vector_of(Image.objects.get(pk=r["id"]))))
        assert r["score"] == pytest.approx(expected, abs=1e-3)
    assert combined[0]["score"] < 0.999  # the words moved the query away from the picture


# ---------------------------------------------------------------------------- several signals


def test_bad_queries_are_400_before_any_work() -> None:
    client = APIClient()
    for q, message in [
        ('"red car', "A quoted phrase is not closed"),
        ("cat + ", "ends with + or -"),
        ("image:x", "image:x is not an image id"),
        ("- night", "at least one term without '-'"),
    ]:
        response = client.get("/api/search/", {"q": q})
        assert response.status_code == 400 and message in response.json()["error"], (q, response.json())
    response = client.get("/api/search/", {"q": "cat", "mode": "fuzzy"})
    assert response.json()["error"] == "mode must be one of: hybrid, semantic, text."
    response = client.get("/api/search/", {"q": "cat", "has_text": "maybe"})
    assert response.json()["error"] == "has_text must be 'true' or 'false'."
    response = client.get("/api/search/", {"q": "image:1", "mode": "text"})
    assert response.status_code == 400 and "need mode=hybrid or mode=semantic" in response.json()["error"]


def test_an_invisible_example_image_is_refused_like_a_missing_one(shapes: dict[str, Image]) -> None:
    secret = shapes["secret"]
    for user in (None, make_user("bob")):
        client = api_client(user)
        hidden = client.get("/api/search/", {"q": f"red + image:{secret.pk}"})
        missing = client.get("/api/search/", {"q": "red + image:999999"})
        assert hidden.status_code == missing.status_code == 400
        assert hidden.json()["error"] == f"image:{secret.pk} is not an image you can see."
        assert missing.json()["error"] == "image:999999 is not an image you can see."
        assert client.get("/api/search/", {"q": "red", "more": str(secret.pk)}).status_code == 400
    pending = make_image(secret.owner, "circle", color=(0, 200, 0))
    response = APIClient().get("/api/search/", {"q": f"image:{pending.pk}"})
    assert response.status_code == 400 and "not indexed yet" in response.json()["error"]


@pytest.fixture
def labelled(clean_index) -> dict[str, Image]:
    alice = make_user("alice")
    images = {
        "crossing": make_image(alice, "stripes", title="Main street", tags=["zebra-crossing"]),
        "sign": make_image(alice, "square", title="Holiday"),
        "circle": make_image(alice, "circle", title="A circle"),
        "triangle": make_image(alice, "triangle", title="Shapes"),
        "diary": make_image(alice, "circle", color=(0, 0, 200), title="notes", visibility="private"),
    }
    index(*images.values())
    read_words(images["sign"], "欢迎光临杭州西湖")
    read_words(images["diary"], "my secret password hunter2")
    return images


@pytest.mark.integration
def test_a_keyword_match_comes_first_under_the_random_model(workers, labelled: dict[str, Image]) -> None:
    client = APIClient()
    for q, image, matches in [
        ("zebra-crossing", "crossing", ["semantic", "tags"]),
        ("西湖", "sign", ["semantic", "ocr"]),
        ("holiday", "sign", ["semantic", "title"]),
        ("stripes.png", "crossing", ["semantic", "filename"]),
    ]:
        body = client.get("/api/search/", {"q": q}).json()
        assert body["mode"] == "hybrid"
        first = body["results"][0]
        assert first["id"] == labelled[image].pk, (q, body["results"])
        assert first["matches"] == matches
        assert all(r["matches"] == ["semantic"] for r in body["results"][1:])
    sign = client.get("/api/search/", {"q": "西湖"}).json()["results"][0]
    assert sign["ocr_text"] == "欢迎光临杭州西湖"

    text_only = client.get("/api/search/", {"q": "西湖", "mode": "text"}).json()
    assert [r["id"] for r in text_only["results"]] == [labelled["sign"].pk]
    assert text_only["results"][0]["matches"] == ["ocr"] and text_only["model"] == ""
    semantic = client.get("/api/search/", {"q": "西湖", "mode": "semantic"}).json()
    assert all(r["matches"] == ["semantic"] for r in semantic["results"])
    assert len(semantic["results"]) == 4


@pytest.mark.integration
def test_private_words_never_surface_for_another_user(workers, labelled: dict[str, Image]) -> None:
    diary = labelled["diary"]
    for client in (APIClient(), api_client(make_user("bob"))):
        for mode in ("hybrid", "text"):
            body = client.get("/api/search/", {"q": "hunter2", "mode": mode}).json()
            assert diary.pk not in {r["id"] for r in body["results"]}
            assert "hunter2" not in str(body["results"])
    own = api_client(diary.owner).get("/api/search/", {"q": "hunter2"}).json()
    assert own["results"][0]["id"] == diary.pk and own["results"][0]["matches"] == ["semantic", "ocr"]


@pytest.mark.integration
def test_weighted_terms_are_one_batched_embedding(workers, labelled: dict[str, Image], monkeypatch) -> None:
    calls = []
    real = queries._ask
    monkeypatch.setattr(queries, "_ask", lambda task, arg: calls.append((task.name, arg)) or real(task, arg))
    square = labelled["sign"]
    q = f'2:"red shape" + image:{square.pk} - night'
    response = APIClient().get("/api/search/", {"q": q, "mode": "semantic", "min_score": -1})
    assert response.status_code == 200, response.content
    assert calls == [("search.tasks.embed_texts", ["red shape", "night"])]
    body = response.json()
    assert body["query"] == q
    encoder = get_encoder()
    red, night = encoder.encode_texts(["red shape", "night"])
    example = vector_of(square) / np.linalg.norm(vector_of(square))
    total = 2 * red / np.linalg.norm(red) + example - night / np.linalg.norm(night)
    total /= np.linalg.norm(total)
    assert square.pk not in {r["id"] for r in body["results"]}  # the example itself is not a result
    assert body["results"]
    for r in body["results"]:
        vector = vector_of(Image.objects.get(pk=r["id"]))
        assert r["score"] == pytest.approx(float(np.dot(total, vector / np.linalg.norm(vector))), abs=1e-3)


@pytest.mark.integration
def test_relevance_feedback_adds_example_terms(workers, labelled: dict[str, Image]) -> None:
    client = APIClient()
    circle, triangle = labelled["circle"], labelled["triangle"]
    by_param = client.get(
        "/api/search/", {"q": "shape", "more": circle.pk, "less": triangle.pk, "mode": "semantic"}
    )
    by_query = client.get(
        "/api/search/", {"q": f"shape + image:{circle.pk} - image:{triangle.pk}", "mode": "semantic"}
    )
    assert by_param.status_code == by_query.status_code == 200
    assert by_param.json()["results"] == by_query.json()["results"]
    assert by_param.json()["query"] == f"shape + image:{circle.pk} - image:{triangle.pk}"
    shown = {r["id"] for r in by_param.json()["results"]}
    assert circle.pk not in shown and triangle.pk not in shown
    # "More like" an image alone is that image's neighbours.
    alone = client.get("/api/search/", {"q": f"image:{circle.pk}", "mode": "semantic"}).json()["results"]
    similar = client.get(f"/api/images/{circle.pk}/similar/").json()["results"]
    assert [r["id"] for r in alone] == [r["id"] for r in similar]


@pytest.mark.integration
def test_sort_by_date_orders_the_whole_result_set(workers, clean_index) -> None:
    alice = make_user("alice")
    images = [
        make_image(alice, data=noise_png(day), created_at=datetime(2024, 1, day, tzinfo=UTC))
        for day in range(1, 7)
    ]
    index(*images)
    pages = [
        APIClient().get("/api/search/", {"q": "a shape", "sort": "date", "limit": 2, "offset": offset}).json()
        for offset in (0, 2, 4)
    ]
    shown = [r["id"] for page in pages for r in page["results"]]
    assert shown == [image.pk for image in reversed(images)]


@pytest.mark.integration
def test_filters_work_for_every_kind_of_search(workers, labelled: dict[str, Image]) -> None:
    client = APIClient()
    with_text = client.get("/api/search/", {"q": "shape", "has_text": "true"}).json()["results"]
    assert [r["id"] for r in with_text] == [labelled["sign"].pk]
    tagged = client.get("/api/search/", {"q": f"image:{labelled['circle'].pk}", "tags": "zebra-crossing"})
    assert [r["id"] for r in tagged.json()["results"]] == [labelled["crossing"].pk]
    by_image = client.post(
        "/api/search/?has_text=false&mode=semantic", {"image": upload("square")}, format="multipart"
    ).json()["results"]
    assert labelled["sign"].pk not in {r["id"] for r in by_image} and len(by_image) == 3


@pytest.mark.integration
def test_copies_of_one_image_are_collapsed(workers, clean_index) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    photo = noise_png(7, size=(256, 192))
    first, second = make_image(alice, data=photo, title="one"), make_image(bob, data=photo, title="two")
    other = make_image(alice, "square")
    index(first, second, other)
    results = APIClient().get("/api/search/", {"q": "noise", "mode": "semantic"}).json()["results"]
    assert len(results) == 2
    copy = next(r for r in results if r["id"] in (first.pk, second.pk))
    assert copy["copies"] == 1 and set(copy["copy_ids"]) | {copy["id"]} == {first.pk, second.pk}
    whole = APIClient().get("/api/search/", {"q": "noise", "mode": "semantic", "collapse": "false"}).json()
    assert len(whole["results"]) == 3 and all(r["copies"] == 0 for r in whole["results"])
