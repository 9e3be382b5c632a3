"""The foundation flow against real services: Redis, Milvus Lite server and both Celery workers."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from ingestion.models import Image
from tests.factories import draw_image, image_bytes

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def wait_indexed(client: APIClient, image_id: int, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/api/images/{image_id}/").json()
        if body["status"] != "pending":
            return body
        time.sleep(0.2)
    raise AssertionError(f"image {image_id} still pending after {timeout} s")


@pytest.fixture
def api(workers, clean_index):
    user = get_user_model().objects.create_user("alice", password="s3cret-pass")
    client = APIClient()
    token = client.post("/api/auth/token/", {"username": "alice", "password": "s3cret-pass"}).json()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token['token']}")
    client.user = user
    return client


def upload(client: APIClient, kind: str, **fields) -> dict:
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = image_bytes(draw_image(kind), "PNG")
    response = client.post(
        "/api/images/",
        {"file": SimpleUploadedFile(f"{kind}.png", data, "image/png"), **fields},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    return response.json()


def image_search(client: APIClient, kind: str, **params):
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = image_bytes(draw_image(kind), "PNG")
    return client.post(
        "/api/search/" + ("?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else ""),
        {"image": SimpleUploadedFile("q.png", data, "image/png")},
        format="multipart",
    )


def test_upload_index_search_delete(api):
    created = {kind: upload(api, kind, title=f"a {kind}") for kind in ("circle", "square", "stripes")}
    assert all(body["status"] == "pending" for body in created.values())

    for body in created.values():
        indexed = wait_indexed(api, body["id"])
        assert indexed["status"] == "indexed", indexed
        assert indexed["thumbnail_url"] and indexed["embedding_model"] == "demo"
        assert len(indexed["pdq_hash"]) == 64

    # The same picture finds itself first, with a cosine score of about 1.
    response = image_search(api, "square")
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert results[0]["id"] == created["square"]["id"]
    assert results[0]["score"] == pytest.approx(1.0, abs=1e-3)
    assert [r["score"] for r in results] == sorted((r["score"] for r in results), reverse=True)
    assert {"id", "score", "title", "thumbnail_url", "url", "created_at", "owner"} <= set(results[0])

    # Text search answers with ranked results and scores.
    response = api.get("/api/search/", {"q": "a red circle on a grey background"})
    assert response.status_code == 200, response.content
    text_results = response.json()["results"]
    assert {r["id"] for r in text_results} == {b["id"] for b in created.values()}
    scores = [r["score"] for r in text_results]
    assert scores == sorted(scores, reverse=True)

    # Similar uses the stored vector and leaves the image itself out.
    similar = api.get(f"/api/images/{created['circle']['id']}/similar/").json()["results"]
    assert created["circle"]["id"] not in {r["id"] for r in similar}
    assert len(similar) == 2

    # Deleting removes the image from results and its vector from Milvus.
    assert api.delete(f"/api/images/{created['square']['id']}/").status_code == 204
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        ids = {r["id"] for r in image_search(api, "square").json()["results"]}
        if created["square"]["id"] not in ids:
            break
        time.sleep(0.2)
    assert created["square"]["id"] not in ids
    assert not Image.objects.filter(pk=created["square"]["id"]).exists()


def test_private_images_stay_private(api):
    mine = upload(api, "triangle", visibility="private")
    assert wait_indexed(api, mine["id"])["status"] == "indexed"

    own = image_search(api, "triangle").json()["results"]
    assert own[0]["id"] == mine["id"]

    anonymous = APIClient()
    response = image_search(anonymous, "triangle")
    assert response.status_code == 200
    assert mine["id"] not in {r["id"] for r in response.json()["results"]}
    assert anonymous.get(f"/api/images/{mine['id']}/").status_code == 404


def test_corrupt_upload_is_rejected_and_nothing_is_queued(api):
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = image_bytes(draw_image("circle"), "JPEG")[:600]
    response = api.post(
        "/api/images/", {"file": SimpleUploadedFile("broken.jpg", data, "image/jpeg")}, format="multipart"
    )
    assert response.status_code == 400
    assert "damaged" in response.json()["error"] or "not an image" in response.json()["error"]
    assert Image.objects.count() == 0


def test_empty_text_query_is_a_clear_400(api):
    response = api.get("/api/search/", {"q": "   "})
    assert response.status_code == 400
    assert "empty" in response.json()["error"]


def test_healthz_reports_every_component(workers, client):
    response = client.get("/healthz")
    assert response.status_code == 200, response.content
    assert response.json() == {"database": "ok", "redis": "ok", "milvus": "ok", "encoder": "ok"}
