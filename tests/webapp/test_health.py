"""/healthz: every component in plain words, 503 when one is down."""

from __future__ import annotations

import pytest

from launcher.stack import free_port
from search.index import forget_collections

pytestmark = pytest.mark.django_db


@pytest.fixture
def fresh_stores():
    forget_collections()
    yield
    forget_collections()


@pytest.mark.integration
def test_all_ok_with_workers(workers, client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200, response.content
    assert response.json() == {"database": "ok", "redis": "ok", "milvus": "ok", "encoder": "ok"}
    assert response["X-Encoder-State"] == "ok"


def test_milvus_down(client, settings, fresh_stores) -> None:
    uri = f"http://127.0.0.1:{free_port()}"
    settings.MILVUS_URI = uri
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["milvus"].startswith(f"error: Milvus is unreachable at {uri}")
    assert body["database"] == "ok" and body["redis"] == "ok"


def test_milvus_back_after_an_outage(client, settings, fresh_stores) -> None:
    good = settings.MILVUS_URI
    settings.MILVUS_URI = f"http://127.0.0.1:{free_port()}"
    assert client.get("/healthz").json()["milvus"].startswith("error:")
    settings.MILVUS_URI = good
    assert client.get("/healthz").json()["milvus"] == "ok"


def test_redis_down(client, settings) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    settings.REDIS_URL = url
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["redis"].startswith(f"error: Redis is unreachable at {url}:")
    assert body["encoder"] == "error: unknown while Redis is down"
    assert body["database"] == "ok" and body["milvus"] == "ok"


def test_worker_states_say_which_queues_can_answer(client, monkeypatch) -> None:
    """`make run` waits on this header until every worker it started can answer."""
    from search.engines.encoder import EncoderState
    from search.pipeline import worker_status
    from webapp import health

    states = [
        worker_status.WorkerState("ingest@box", ["ingest"], EncoderState.OK, model="demo", device="cpu"),
        worker_status.WorkerState("ocr@box", ["ocr"], EncoderState.LOADING, "loading the OCR engine"),
        worker_status.WorkerState("query@box", ["query"], EncoderState.LOADING),
    ]
    monkeypatch.setattr(health, "read_all", lambda client: states)
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json()["encoder"] == "loading"
    assert response["X-Worker-States"] == "ingest=ok,ocr=loading,query=loading"
    states[1].state = states[2].state = EncoderState.OK
    assert client.get("/healthz")["X-Worker-States"] == "ingest=ok,ocr=ok,query=ok"
