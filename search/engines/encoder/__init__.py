"""CLIP-style image and text encoder. This package is the only code that imports torch and
transformers, and only its `loading`, `model`, `preprocess` and demo modules do: importing the package
itself (for `encoder_state`, `ModelUnavailable`, ...) and `families` stays torch-free.

- `errors`: `ModelUnavailable` (a 503 `ServiceUnavailable`) and how to fix it.
- `loading`: device, dtype and model resolution; `load_encoder`.
- `model`: the loaded `Encoder`.
- `holder`: the process-wide encoder's life cycle and its `EncoderState`.
- `families`: the model families (CLIP, Chinese-CLIP, SigLIP 2, AltCLIP): languages, context
  length, text normalisation, preprocessing, score cut-offs; the published models' figures.
- `preprocess`: open_clip's and cn_clip's image transforms, reproduced without torchvision.
- `demo`, `demo_families`: the offline random-weight demos (CLIP; Chinese-CLIP and SigLIP 2).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import DEMO_MODEL_ID, DEMO_MODELS, ModelUnavailable
from .holder import (
    EncoderHolder,
    EncoderState,
    current_model,
    encoder_state,
    get_encoder,
    loaded_models,
    release_models,
    start_loading_in_background,
    use_model,
    wait_for_encoder,
)

if TYPE_CHECKING:
    from .loading import load_encoder
    from .model import Encoder

__all__ = [
    "DEMO_MODELS",
    "DEMO_MODEL_ID",
    "Encoder",
    "EncoderHolder",
    "EncoderState",
    "ModelUnavailable",
    "current_model",
    "encoder_state",
    "get_encoder",
    "load_encoder",
    "loaded_models",
    "release_models",
    "start_loading_in_background",
    "use_model",
    "wait_for_encoder",
]


def __getattr__(name: str) -> Any:
    # Deferred import: web processes import search.engines.encoder for its state and errors, never torch.
    if name == "Encoder":
        from .model import Encoder

        return Encoder
    if name == "load_encoder":
        from .loading import load_encoder

        return load_encoder
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
