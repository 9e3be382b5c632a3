"""The query worker's tasks, run in this process: answers, and plain errors instead of hangs."""

from __future__ import annotations

import base64
import threading

import numpy as np
import pytest

from search import tasks
from search.engines.encoder import EncoderHolder, get_encoder
from search.engines.encoder import holder as encoder_module
from tests.factories import draw_image, image_bytes


def test_text_and_image_answers_carry_model_and_unit_vector() -> None:
    answer = tasks.embed_texts(["a red circle"])
    assert answer["model"] == "demo" and answer["dim"] == len(answer["vectors"][0])
    expected = get_encoder().encode_texts(["a red circle"])[0]
    np.testing.assert_allclose(answer["vectors"][0], expected, atol=1e-6)
    data = base64.b64encode(image_bytes(draw_image("square"), "PNG")).decode()
    assert np.linalg.norm(tasks.embed_image(data)["vector"]) == pytest.approx(1.0, abs=1e-5)


def test_undecodable_image_is_an_input_error() -> None:
    answer = tasks.embed_image(base64.b64encode(b"not an image").decode())
    assert answer["kind"] == "input" and "could not be decoded" in answer["error"]


@pytest.fixture
def loading_model(monkeypatch):
    """The process-wide encoder still loading (a worker just started) until `release` is set."""
    release = threading.Event()
    loaded = get_encoder()

    def slow_loader():
        release.wait(60)
        return loaded

    holder = EncoderHolder(loader=slow_loader)
    monkeypatch.setattr(encoder_module, "_holder", holder)
    loading = holder.start_loading_in_background()
    yield release
    release.set()
    loading.join(60)


def test_a_search_arriving_while_the_model_loads_waits_for_it(loading_model) -> None:
    answers: list[dict] = []
    asking = threading.Thread(target=lambda: answers.append(tasks.embed_texts(["a red circle"])))
    asking.start()
    asking.join(1.0)
    assert asking.is_alive() and not answers  # waiting for the model, not answering "loading"
    loading_model.set()
    asking.join(60)
    assert answers[0]["model"] == "demo" and len(answers[0]["vectors"]) == 1
    assert tasks.embed_texts(["anything"])["model"] == "demo"


def test_a_model_still_loading_when_the_caller_gives_up_is_a_plain_503(loading_model, settings) -> None:
    settings.QUERY_TIMEOUT = tasks.ANSWER_MARGIN_S  # no time left to wait: answer at once
    answer = tasks.embed_texts(["anything"])
    assert answer == {"error": "The model is still loading; try again in a moment.", "kind": "model"}
