"""The process-wide encoders' life cycle: each loaded once, lazily or in the background, with a
state that can be read at any time without blocking and without importing torch.

A process normally holds one model: settings.CLIP_MODEL, or the model `use_model` names (the
search app reads the active one from the database, search.pipeline.switching). During a model switch a
worker may hold a second one (`get_encoder(model_id)`), loaded lazily and let go with
`release_models` once the switch is over."""

from __future__ import annotations

import enum
import gc
import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from django.conf import settings

from .errors import HOW_TO_FIX, ModelUnavailable

if TYPE_CHECKING:
    from .model import Encoder

logger = logging.getLogger(__name__)


class EncoderState(enum.StrEnum):
    """A str, so it compares equal to "ok" and is stored in JSON as its value."""

    IDLE = "idle"
    LOADING = "loading"
    OK = "ok"
    ERROR = "error"


def _load_configured(threads: int | None = None, model_id: str | None = None) -> Encoder:
    # Deferred import: web processes import search.engines.encoder for its state and errors, never torch.
    from .loading import load_encoder

    return load_encoder(model_id, threads=threads)


class EncoderHolder:
    """Loads one encoder lazily, once, and reports its state without blocking."""

    retry_after_error_s = 30.0

    def __init__(self, loader: Callable[[], Encoder] | None = None, model_id: str | None = None) -> None:
        self.threads: int | None = None  # torch threads for this process's role (search.pipeline.worker)
        self._loader = loader or (lambda: _load_configured(self.threads, model_id))
        self._settled = threading.Event()  # set once a load has ended, loaded or failed
        self._lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._encoder: Encoder | None = None
        self._error: ModelUnavailable | None = None
        self._error_at = 0.0
        self._state: tuple[EncoderState, str] = (EncoderState.IDLE, "")

    def state(self) -> tuple[EncoderState, str]:
        return self._state

    def get(self) -> Encoder:
        if self._encoder is not None:
            return self._encoder
        with self._lock:
            if self._encoder is not None:
                return self._encoder
            # Within the cool-down a failed load is reported again, not retried on every request.
            if self._error and time.monotonic() - self._error_at < self.retry_after_error_s:
                self._state = (EncoderState.ERROR, str(self._error))
                raise ModelUnavailable(str(self._error))
            self._state = (EncoderState.LOADING, "loading the CLIP model")
            self._settled.clear()
            try:
                encoder = self._loader()
            except Exception as exc:
                error = (
                    exc
                    if isinstance(exc, ModelUnavailable)
                    else ModelUnavailable(f"Could not load the CLIP model: {exc}. {HOW_TO_FIX}")
                )
                self._error, self._error_at = error, time.monotonic()
                self._state = (EncoderState.ERROR, str(error))
                self._settled.set()
                if error is exc:
                    raise
                raise error from exc
            self._encoder, self._error = encoder, None
            self._state = (
                EncoderState.OK,
                f"{encoder.model_id} on {encoder.device}, {encoder.dim} dimensions",
            )
            self._settled.set()
            return encoder

    def wait_loaded(self, timeout: float) -> Encoder:
        """The encoder, waiting up to `timeout` seconds for a load in progress (a search that arrives
        while the worker starts waits for the model instead of failing at once). ModelUnavailable
        if the load fails or is still running when the time is up."""
        if self._encoder is not None:
            return self._encoder
        if self._state[0] == EncoderState.LOADING and not self._settled.wait(max(0.0, timeout)):
            raise ModelUnavailable("The model is still loading; try again in a moment.")
        return self.get()

    def start_loading_in_background(self, threads: int | None = None) -> threading.Thread | None:
        """Start loading in a daemon thread; None when already loaded or loading. `threads`: torch's
        threads for this process (None: settings.TORCH_NUM_THREADS)."""
        with self._start_lock:
            if self._state[0] in (EncoderState.OK, EncoderState.LOADING):
                return None
            self.threads = threads
            self._state = (EncoderState.LOADING, "loading the CLIP model")
            self._settled.clear()
            thread = threading.Thread(target=self._load_quietly, name="clip-loader", daemon=True)
            thread.start()
            return thread

    def _load_quietly(self) -> None:
        try:
            self.get()
        except ModelUnavailable as exc:
            logger.error("%s", exc)

    def unload(self) -> None:
        """Let the model go (its memory is freed once no batch still uses it); idle again."""
        with self._lock:
            self._encoder, self._error = None, None
            self._state = (EncoderState.IDLE, "")
            self._settled.clear()


_holder = EncoderHolder()  # settings.CLIP_MODEL's
_others: dict[str, EncoderHolder] = {}  # any other model this process was asked for
_registry_lock = threading.Lock()
_current: str | None = None  # the model `get_encoder()` means; None: settings.CLIP_MODEL
_threads: int | None = None  # torch threads of this process's role, for every model it loads


def holder_for(model_id: str | None = None) -> EncoderHolder:
    """The holder of `model_id` (default: the process's current model), made on first use."""
    model_id = model_id or _current
    if not model_id or model_id == settings.CLIP_MODEL:
        return _holder
    with _registry_lock:
        holder = _others.get(model_id)
        if holder is None:
            holder = _others[model_id] = EncoderHolder(model_id=model_id)
            holder.threads = _threads  # the same torch threads as this process's role
        return holder


def use_model(model_id: str | None) -> None:
    """Make `model_id` the model `get_encoder()` and `encoder_state()` mean in this process."""
    global _current
    _current = None if not model_id or model_id == settings.CLIP_MODEL else model_id


def current_model() -> str:
    return _current or settings.CLIP_MODEL


def loaded_models() -> list[str]:
    """The models this process holds in memory (loaded), current first."""
    candidates = [(settings.CLIP_MODEL, _holder), *list(_others.items())]
    found = [model for model, holder in candidates if holder.state()[0] == EncoderState.OK]
    return sorted(found, key=lambda model: model != current_model())


def release_models(keep: set[str]) -> list[str]:
    """Unload every model not in `keep` (after a switch: the old one); returns those let go."""
    released = []
    with _registry_lock:
        for model_id in [m for m in _others if m not in keep]:
            if _others.pop(model_id).state()[0] != EncoderState.IDLE:
                released.append(model_id)
    if settings.CLIP_MODEL not in keep and _holder.state()[0] != EncoderState.IDLE:
        _holder.unload()
        released.append(settings.CLIP_MODEL)
    if released:
        gc.collect()
        torch = sys.modules.get("torch")  # never imported here: only if a model was loaded
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()
        logger.info("Released model(s) %s", ", ".join(released))
    return released


def get_encoder(model_id: str | None = None) -> Encoder:
    """The encoder of `model_id` (default: the process's current model, settings.CLIP_MODEL unless
    `use_model` said otherwise), loaded on first use."""
    return holder_for(model_id).get()


def encoder_state(model_id: str | None = None) -> tuple[EncoderState, str]:
    """(state, plain-words detail) of the process's encoder of `model_id` (default: current)."""
    return holder_for(model_id).state()


def start_loading_in_background(threads: int | None = None, model_id: str | None = None) -> None:
    """Load `model_id` (default: current) in the background. `threads`, given once by the worker's
    start-up, holds for every model this process loads later (a switch's target)."""
    global _threads
    if threads is not None:
        _threads = threads
    holder_for(model_id).start_loading_in_background(_threads if threads is None else threads)


def wait_for_encoder(timeout: float, model_id: str | None = None) -> Encoder:
    """The encoder of `model_id` (default: current), waiting up to `timeout` s for a load in progress."""
    return holder_for(model_id).wait_loaded(timeout)
