"""The app against a real Milvus 2.3.5 server (`MILVUS_URI=http://host:port`, the contract's
promise): upload, index, search by text, by example image and by `image:ID`, similar, duplicates,
delete and reconcile. Indexing runs in this process (the real pipeline, `tests.factories.index`);
the query worker embeds the queries, as in production."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from ingestion.models import Image
from search import variants
from search.engines.vector_store import VectorRow, VectorStore, engine, get_client
from search.index import PDQ_COLLECTION, embedding_store, hash_store, variant_store
from search.pipeline.reconcile import reconcile
from tests.factories import api_client, draw_image, image_bytes, index, make_user, model_of, vector_of

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def upload(api, name: str, data: bytes, content_type: str = "image/png") -> Image:
    file = SimpleUploadedFile(name, data, content_type)
    response = api.post("/api/images/", {"file": file}, format="multipart")
    assert response.status_code == 201, response.content
    return Image.objects.get(pk=response.json()["id"])


def result_ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [r["id"] for r in response.json()["results"]]


def test_upload_search_delete_reconcile_on_a_milvus_server(
    on_milvus_standalone, workers, django_capture_on_commit_callbacks
) -> None:
    assert not engine().lite  # the app's own client talks to the server
    # A server used before hashes were binary vectors: its float-layout hash collection.
    old_layout = VectorStore(PDQ_COLLECTION, variants.PDQ_BITS, metric="IP")
    old_layout.ensure_collection()
    old_layout.upsert([VectorRow(1, variants.pdq_vector("0f" * 32), 1, True, 0)])
    alice = make_user("alice")
    api = api_client(alice)
    # Uploads through the API (validation, storage, the pending row); indexed here, not by the
    # session's ingest worker, which writes to Milvus Lite.
    shapes = {
        kind: upload(api, f"{kind}.png", image_bytes(draw_image(kind), "PNG"))
        for kind in ("circle", "square", "stripes")
    }
    # The circle again as a JPEG: other bytes, the same PDQ hash or nearly.
    jpeg = upload(api, "circle.jpg", image_bytes(draw_image("circle"), "JPEG", quality=90), "image/jpeg")
    ids = {image.pk for image in [*shapes.values(), jpeg]}
    index(*shapes.values(), jpeg)
    assert all(image.status == Image.Status.INDEXED for image in [*shapes.values(), jpeg])

    circle, square = shapes["circle"], shapes["square"]
    embeddings = embedding_store(model_of(circle), len(vector_of(circle)))
    assert embeddings.ids() == ids and hash_store().ids() == ids
    assert {variants.split_row_id(i)[0] for i in variant_store().ids()} == ids
    assert embeddings.name in get_client(on_milvus_standalone).list_collections()
    # Hashes are binary vectors here (32 bytes each), in collections of their own.
    assert hash_store().binary and hash_store().name == f"{PDQ_COLLECTION}_bin"

    # Text (the vectors only, not the titles; copies not collapsed), example image, image:ID, similar.
    text = {"q": "a red shape", "mode": "semantic", "collapse": "false"}
    assert set(result_ids(api.get("/api/search/", text))) == ids
    found = api.post(
        "/api/search/",
        {"image": SimpleUploadedFile("q.png", image_bytes(draw_image("square"), "PNG"), "image/png")},
        format="multipart",
    )
    assert result_ids(found)[0] == square.pk
    assert found.json()["results"][0]["score"] == pytest.approx(1.0, abs=1e-3)
    # "More like this": the circle's stored vector finds its copy first, never itself.
    like_circle = result_ids(api.get("/api/search/", {"q": f"image:{circle.pk}", "mode": "semantic"}))
    assert like_circle[0] == jpeg.pk and circle.pk not in like_circle
    similar = result_ids(api.get(f"/api/images/{circle.pk}/similar/"))
    assert circle.pk not in similar and set(similar) == ids - {circle.pk}
    duplicates = api.get(f"/api/images/{circle.pk}/duplicates/").json()["duplicates"]
    assert {d["id"]: d["kind"] for d in duplicates}[jpeg.pk] == "near"

    # Delete: the vectors leave every collection once the delete commits.
    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(f"/api/images/{square.pk}/").status_code == 204
    ids.discard(square.pk)
    assert embeddings.ids() == ids and hash_store().ids() == ids
    assert set(result_ids(api.get("/api/search/", text))) == ids

    # Reconcile: a lost vector comes back from the database, an orphan goes.
    embeddings.delete([circle.pk])
    orphan = np.ones(embeddings.dim, dtype=np.float32) / np.sqrt(embeddings.dim)
    row = VectorRow(id=square.pk, vector=orphan, owner_id=alice.pk, is_public=True, created_at=0)
    embeddings.upsert([row])
    hash_store().delete([jpeg.pk])
    report = reconcile()
    assert (report.restored, report.orphans_deleted, report.hashes_restored) == (1, 1, 1)
    assert embeddings.ids() == ids and hash_store().ids() == ids
    # The float layout is gone from the server: nothing reads it, and it held 1 KB a hash.
    collections = get_client(on_milvus_standalone).list_collections()
    assert PDQ_COLLECTION not in collections and variants.VARIANT_COLLECTION not in collections
    assert result_ids(api.get(f"/api/images/{jpeg.pk}/similar/"))[0] == circle.pk
