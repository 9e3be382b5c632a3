"""Why no encoder is available. Free of torch, so web processes can catch and show it."""

from __future__ import annotations

from core.errors import ServiceUnavailable

DEMO_MODEL_ID = "demo"
# The offline random-weight demo CLIPs and their embedding size: "demo-64" differs from "demo" only
# in its projection, so switching between them exercises a model switch across dimensions.
# "demo-zh" (Chinese-CLIP) and "demo-siglip" (SigLIP 2) are the other families' demos
# (search.engines.encoder.demo_families).
DEMO_MODELS = {DEMO_MODEL_ID: 128, "demo-64": 64, "demo-zh": 128, "demo-siglip": 64}
HOW_TO_FIX = (
    "Set CLIP_MODEL to a local folder with a downloaded model, "
    f"or CLIP_MODEL={DEMO_MODEL_ID} for an offline demo model."
)


class ModelUnavailable(ServiceUnavailable):
    """The configured model cannot be loaded; the message says why and how to fix it (a 503)."""


def unavailable(model_id: str, reason: str) -> ModelUnavailable:
    return ModelUnavailable(f"Could not load CLIP model {model_id!r}: {reason}. {HOW_TO_FIX}")


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
