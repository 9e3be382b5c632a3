"""The process-wide encoder's life cycle: loaded once, lazily or in the background, with a state
that can be read at any time without blocking and without importing torch."""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

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


def _load_configured(threads: int | None = None) -> Encoder:
    # Deferred import: web processes import search.encoder for its state and errors, never torch.
    from .loading import load_encoder

    return load_encoder(threads=threads)


class EncoderHolder:
    """Loads one encoder lazily, once, and reports its state without blocking."""

    retry_after_error_s = 30.0

    def __init__(self, loader: Callable[[], Encoder] | None = None) -> None:
        self.threads: int | None = None  # torch threads for this process's role (search.worker)
        self._loader = loader or (lambda: _load_configured(self.threads))
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


_holder = EncoderHolder()


def get_encoder() -> Encoder:
    """The process-wide encoder for settings.CLIP_MODEL, loaded on first use."""
    return _holder.get()


def encoder_state() -> tuple[EncoderState, str]:
    """(state, plain-words detail) of the process-wide encoder."""
    return _holder.state()


def start_loading_in_background(threads: int | None = None) -> None:
    _holder.start_loading_in_background(threads)


def wait_for_encoder(timeout: float) -> Encoder:
    """The process-wide encoder, waiting up to `timeout` s for a load in progress."""
    return _holder.wait_loaded(timeout)
