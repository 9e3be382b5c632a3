"""A model switch end to end against real services (Redis, the Milvus Lite server, the ingest,
OCR and query workers): images indexed by `demo` (128 dimensions), `reindex --model demo-64`
(64) builds on the ingest worker, searches answer throughout, and after the switch the query
worker encodes with demo-64; the old collection goes only when asked."""

from __future__ import annotations

import time
from io import StringIO

import pytest
from django.core.management import call_command

from ingestion.models import Image
from search.engines.vector_store import collection_name, get_client
from search.models import ModelSwitch
from search.pipeline import switching
from tests.integration.test_upload_search_flow import api, image_search, upload, wait_indexed  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def wait_for(condition, what: str, timeout: float = 180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"{what} within {timeout} s; switch: {switching.progress()}")


def finds_itself(client, kind: str, image_id: int) -> str:
    """The model that answered a search by the image's own picture, which must rank it first."""
    response = image_search(client, kind)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["results"][0]["id"] == image_id
    assert body["results"][0]["score"] == pytest.approx(1.0, abs=1e-3)
    return body["model"]


def test_switch_to_a_model_of_another_dimension_without_downtime(api):  # noqa: F811
    created = {kind: upload(api, kind, title=f"a {kind}")["id"] for kind in ("circle", "square", "stripes")}
    for image_id in created.values():
        assert wait_indexed(api, image_id)["embedding_model"] == "demo"
    assert finds_itself(api, "circle", created["circle"]) == "demo"

    out = StringIO()
    call_command("reindex", model="demo-64", stdout=out)
    assert "Switching to demo-64" in out.getvalue() and "Building in the background" in out.getvalue()
    # Searches keep answering while the build runs, with whichever model is active at that moment.
    assert finds_itself(api, "square", created["square"]) in {"demo", "demo-64"}
    late = upload(api, "triangle", title="uploaded during the switch")["id"]

    wait_for(lambda: switching.active_model_id() == "demo-64", "the switch to demo-64")
    row = ModelSwitch.objects.get(pk=1)
    assert (row.active, row.target, row.previous, row.previous_dim) == ("demo-64", "", "demo", 128)
    out = StringIO()
    call_command("reindex", status=True, stdout=out)
    assert "Active model: demo-64" in out.getvalue() and "Previous model demo kept" in out.getvalue()

    # The upload made meanwhile ends up with the new model too (indexed by both, or re-queued).
    wait_for(
        lambda: Image.objects.filter(
            pk=late, status="indexed", model_embeddings__model_id="demo-64"
        ).exists(),
        "the late upload on demo-64",
    )
    for kind, image_id in created.items():
        body = api.get(f"/api/images/{image_id}/").json()
        assert body["embedding_model"] == "demo-64", body
        assert finds_itself(api, kind, image_id) == "demo-64"  # the query worker encodes with demo-64
    assert finds_itself(api, "triangle", late) == "demo-64"
    text = api.get("/api/search/", {"q": "a red circle", "mode": "semantic"})
    assert text.status_code == 200 and text.json()["model"] == "demo-64"
    similar = api.get(f"/api/images/{created['circle']}/similar/")
    assert similar.status_code == 200 and len(similar.json()["results"]) == 3

    client = get_client()
    assert client.has_collection(collection_name("demo", 128))  # kept until asked
    out = StringIO()
    call_command("reindex", drop_old=True, stdout=out)
    assert "Dropped demo" in out.getvalue()
    assert not client.has_collection(collection_name("demo", 128))
    assert finds_itself(api, "stripes", created["stripes"]) == "demo-64"
