"""Worker states in Redis and what /healthz and the pages make of them."""

from __future__ import annotations

import json

import pytest

from search.engines.encoder import EncoderHolder, EncoderState, load_encoder
from search.engines.encoder import holder as holder_module
from search.pipeline.worker_status import (
    KEY_PREFIX,
    Heartbeat,
    SummaryState,
    WorkerState,
    encoder_summary,
    publish,
    read_all,
    redis_client,
)


def worker(state: str, queues: tuple[str, ...] = ("query",), detail: str = "") -> WorkerState:
    ok = state == "ok"
    return WorkerState(
        f"w-{state}", list(queues), state, detail, "demo" if ok else "", "cpu" if ok else "", 128 if ok else 0
    )


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        ([], (SummaryState.NO_WORKER, "no worker is serving the 'query' queue; start one (make run does).")),
        ([worker("ok", ("ingest",))], (SummaryState.NO_WORKER, "no worker is serving the 'query' queue")),
        ([worker("error", detail="boom"), worker("ok")], (SummaryState.OK, "demo on cpu")),
        (
            [worker("error", detail="boom"), worker("loading")],
            (SummaryState.LOADING, "the model is loading."),
        ),
        ([worker("idle")], (SummaryState.LOADING, "the model is loading.")),
        ([worker("error", detail="boom")], (SummaryState.ERROR, "boom")),
        ([worker("error")], (SummaryState.ERROR, "the model could not be loaded")),
    ],
)
def test_encoder_summary(states: list[WorkerState], expected: tuple[SummaryState, str]) -> None:
    state, detail = encoder_summary(states, "query")
    assert state is expected[0] and detail.startswith(expected[1])


def test_summary_states_are_strings_for_templates_and_json() -> None:
    assert [str(s) for s in SummaryState] == ["ok", "loading", "no_worker", "error"]
    assert SummaryState.NO_WORKER != SummaryState.ERROR  # no more searching the message for "no worker"
    assert json.dumps(SummaryState.NO_WORKER) == '"no_worker"'


@pytest.fixture
def redis_keys():
    client = redis_client()
    made: list[str] = []
    yield client, made
    for hostname in made:
        client.delete(KEY_PREFIX + hostname)


def test_state_is_stored_as_its_string_and_read_back_as_the_enum(redis_keys) -> None:
    client, made = redis_keys
    made += ["test-ws-ok", "test-ws-bad"]
    publish(WorkerState("test-ws-ok", ["query"], EncoderState.OK, "", "demo", "cpu", 128), client)
    stored = json.loads(client.get(KEY_PREFIX + "test-ws-ok"))
    assert stored == {
        "hostname": "test-ws-ok",
        "queues": ["query"],
        "state": "ok",
        "detail": "",
        "model": "demo",
        "device": "cpu",
        "dim": 128,
    }
    client.set(KEY_PREFIX + "test-ws-bad", json.dumps({**stored, "hostname": "test-ws-bad", "state": "??"}))
    mine = {s.hostname: s for s in read_all(client) if s.hostname.startswith("test-ws-")}
    assert list(mine) == ["test-ws-ok"]  # the unreadable one is skipped, not an error for /healthz
    assert mine["test-ws-ok"].state is EncoderState.OK


def test_heartbeat_publishes_the_holder_state_and_fires_on_ready_once(monkeypatch, redis_keys) -> None:
    client, made = redis_keys
    made.append("test-ws-beat")
    encoder = load_encoder("demo", device="cpu")
    holder = EncoderHolder(lambda: encoder)
    monkeypatch.setattr(holder_module, "_holder", holder)
    ready = []
    heartbeat = Heartbeat("test-ws-beat", ["query"], on_ready=lambda: ready.append(1))

    heartbeat.beat()
    assert heartbeat.snapshot().state is EncoderState.IDLE and ready == []
    assert json.loads(client.get(KEY_PREFIX + "test-ws-beat"))["state"] == "idle"

    holder.get()
    heartbeat.beat()
    heartbeat.beat()
    assert ready == [1]
    stored = WorkerState(**json.loads(client.get(KEY_PREFIX + "test-ws-beat")))
    assert (stored.state, stored.model, stored.device, stored.dim) == (EncoderState.OK, "demo", "cpu", 128)
    assert encoder_summary([stored], "query") == (SummaryState.OK, "demo on cpu")

    heartbeat.stop()
    assert client.get(KEY_PREFIX + "test-ws-beat") is None
