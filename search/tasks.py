"""Query-time embeddings, computed on the `query` queue so searches never wait behind ingest."""

from __future__ import annotations

import base64

from celery import shared_task


def _answer(vectors) -> dict:
    from .encoder import ModelUnavailable, encoder_state, get_encoder

    if encoder_state()[0] == "loading":
        # Answer at once rather than outlast the caller's short timeout.
        raise ModelUnavailable("The model is still loading; try again in a moment.")
    encoder = get_encoder()
    return {"model": encoder.model_id, "dim": encoder.dim, "vector": vectors(encoder)[0].tolist()}


def _safely(compute) -> dict:
    from ingestion.processing import decode

    from .encoder import ModelUnavailable

    try:
        return compute(decode)
    except ModelUnavailable as exc:
        return {"error": str(exc), "kind": "model"}
    except (OSError, ValueError, SyntaxError) as exc:
        return {"error": f"The image could not be decoded: {exc}", "kind": "input"}


@shared_task(name="search.tasks.embed_text")
def embed_text(text: str) -> dict:
    return _safely(lambda decode: _answer(lambda enc: enc.encode_texts([text])))


@shared_task(name="search.tasks.embed_image")
def embed_image(data_b64: str) -> dict:
    def compute(decode):
        image = decode(base64.b64decode(data_b64))
        return _answer(lambda enc: enc.encode_images([image]))

    return _safely(compute)
