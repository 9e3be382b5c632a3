"""`make run` reads the encoder's readiness from /healthz's X-Encoder-State header, never from its
message."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from launcher.run import EncoderState, banner, encoder_state, port_from, readiness, redacted, wait_until_ready
from launcher.stack import Stack, free_port


@pytest.fixture
def healthz() -> Iterator[tuple[str, dict]]:
    """A stand-in /healthz answering whatever the test puts in `reply` ("status", "body")."""
    reply: dict = {"status": 200, "body": {}, "state": None, "workers": None}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = reply["body"] if isinstance(reply["body"], bytes) else json.dumps(reply["body"]).encode()
            self.send_response(reply["status"])
            self.send_header("Content-Type", "application/json")
            if reply["state"]:
                self.send_header("X-Encoder-State", reply["state"])
            if reply["workers"]:
                self.send_header("X-Worker-States", reply["workers"])
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", reply
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("status", "body", "state", "expected"),
    [
        (200, {"encoder": "openai/clip on cpu"}, "ok", EncoderState.OK),
        (200, {"encoder": "loading"}, "loading", EncoderState.LOADING),
        # The message mentions no worker but the header says error: the header wins.
        (503, {"encoder": "error: no worker is serving it"}, "error", EncoderState.ERROR),
        (503, {"encoder": "error: the model failed"}, "no_worker", EncoderState.NO_WORKER),
        (200, {"encoder": "ok"}, None, EncoderState.LOADING),  # an older server without the header
        (200, {"encoder": "ok"}, "warming", EncoderState.LOADING),  # unknown value
        (503, b"<html>Bad gateway</html>", None, EncoderState.LOADING),
        (200, [1, 2], "ok", EncoderState.OK),
    ],
)
def test_encoder_state(healthz, status: int, body, state, expected: EncoderState) -> None:
    url, reply = healthz
    reply.update(status=status, body=body, state=state)
    got, message = encoder_state(url)
    assert got is expected
    if isinstance(body, dict):
        assert message == body["encoder"]


def test_nothing_listening_means_still_loading() -> None:
    assert encoder_state(f"http://127.0.0.1:{free_port()}") == (EncoderState.LOADING, "")


def test_only_ok_and_error_are_settled() -> None:
    assert {s for s in EncoderState if s.settled} == {EncoderState.OK, EncoderState.ERROR}


def test_banner(tmp_path: Path) -> None:
    stack = Stack(tmp_path, env={"CLIP_MODEL": "demo"})
    assert "Model: demo (random-weight" in banner("http://x", EncoderState.OK, "demo on cpu", stack)
    assert "is still loading" in banner("http://x", EncoderState.NO_WORKER, "error: no worker", stack)
    failed = banner("http://x", EncoderState.ERROR, "error: weights missing", stack)
    assert "Model: demo is NOT available: error: weights missing" in failed


@pytest.mark.parametrize(("value", "port"), [("", 8000), (" 8123 ", 8123)])
def test_port(value: str, port: int) -> None:
    assert port_from({"PORT": value}) == port


@pytest.mark.parametrize("value", ["abc", "0", "70000", "-1"])
def test_a_bad_port_is_refused_by_name(value: str) -> None:
    with pytest.raises(SystemExit, match=f"PORT must be a port number .*got '{value}'"):
        port_from({"PORT": value})


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cr3t@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("redis://user:s3cr3t@redis/1", "redis://user:***@redis/1"),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ],
)
def test_printed_urls_hide_their_password(url: str, shown: str) -> None:
    assert redacted(url) == shown


def test_ready_only_once_every_worker_can_answer(healthz, tmp_path: Path) -> None:
    """The query worker answering is not enough: "running" waits for ingest and OCR too."""
    url, reply = healthz
    reply.update(body={"encoder": "demo on cpu"}, state="ok", workers="ingest=ok,ocr=loading,query=ok")
    stack = Stack(tmp_path)
    ready = wait_until_ready(url, stack, ["ingest", "ocr", "query"], timeout=1)
    assert ready.encoder is EncoderState.OK and ready.waiting_for(["ingest", "ocr", "query"]) == ["ocr"]

    reply.update(workers="ingest=ok,ocr=ok,query=ok")
    ready = wait_until_ready(url, stack, ["ingest", "ocr", "query"], timeout=60)
    assert ready.waiting_for(["ingest", "ocr", "query"]) == []


def test_a_worker_missing_from_the_header_is_still_starting(healthz) -> None:
    url, reply = healthz
    reply.update(state="ok", workers="ingest=ok,query=ok,ocr=warming")
    ready = readiness(url)
    assert ready.waiting_for(["ingest", "ocr", "query", "extra"]) == ["ocr", "extra"]
    reply.update(workers="ingest=ok,ocr=error,query=no_worker")
    assert readiness(url).waiting_for(["ingest", "ocr", "query"]) == ["query"]  # an error is an answer
