"""Words inside images: PP-OCRv4 detection and recognition (Chinese and English) run by onnxruntime
through `rapidocr-onnxruntime`, whose wheel ships the models (nothing is downloaded).

A leaf: the only code that imports rapidocr / onnxruntime, and it imports no app. It takes a
decoded Pillow image and gives back plain data; the caller stores it.

Cost control: the image is scaled down to `max_side` first (OCR is by far the slowest step of
ingest, and signs, captions and pages stay legible at that size), and recognition only runs on
the regions detection found: a photo without text costs one detection pass.

Noise control, tuned on a named set (tests/search/test_ocr.py): scikit-image's photographs without
text must read nothing at their own size or scaled up as a camera would give them, while drawn
English and Chinese text keeps every word. Noise there scored up to 0.72 ("O" on the cat's face,
"000" on the cameraman's coat); drawn text 0.83 and above, 0.98 and above for one or two characters."""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image as PILImage
from rapidocr_onnxruntime import RapidOCR

logger = logging.getLogger(__name__)

MIN_SCORE = 0.8  # recognitions less sure than this are dropped (rapidocr's own floor, 0.5, read noise)
# One or two characters are what noise looks like ("O", "n", "M6"): they must be surer.
MIN_SCORE_SHORT = 0.9
SHORT = 2
USE_CLS = False  # the angle classifier only helps upside-down lines and costs a pass per line
# Word boundaries the recogniser missed ("Region-basedsegmentation"): a blank run between two
# letters at least this share of the text's height, and this many times the line's typical gap
# between letters, is a space. Letter gaps measured up to 0.33 of the height, word gaps 0.42 and up.
WORD_GAP = 0.38
WORD_GAP_RATIO = 1.8


@dataclass(frozen=True)
class TextBox:
    text: str
    box: list[list[int]]  # four [x, y] corners in the original image's pixels
    score: float

    def as_dict(self) -> dict:
        return {"text": self.text, "box": self.box, "score": round(self.score, 4)}


@dataclass(frozen=True)
class OcrResult:
    boxes: list[TextBox] = field(default_factory=list)
    millis: int = 0

    @property
    def text(self) -> str:
        """The lines in reading order: boxes side by side form one line, left to right."""
        return "\n".join(" ".join(b.text for b in line) for line in lines(self.boxes))


def _span(box: TextBox) -> tuple[float, float]:
    ys = [y for _, y in box.box]
    return min(ys), max(ys)


def lines(boxes: list[TextBox]) -> list[list[TextBox]]:
    """Boxes grouped into lines: a box whose vertical centre lies within the current line's extent
    joins it (detection often splits one line into words)."""
    grouped: list[list[TextBox]] = []
    extent = (0.0, -1.0)
    for box in sorted(boxes, key=lambda b: sum(_span(b)) / 2):
        top, bottom = _span(box)
        centre = (top + bottom) / 2
        if grouped and extent[0] <= centre <= extent[1]:
            grouped[-1].append(box)
            extent = (min(extent[0], top), max(extent[1], bottom))
        else:
            grouped.append([box])
            extent = (top, bottom)
    return [sorted(line, key=lambda b: min(x for x, _ in b.box)) for line in grouped]


class OcrState(enum.StrEnum):
    """The engine's life cycle, in the very words of the encoder's (`EncoderState`: an engine imports
    no other engine), so a worker publishes either the same way (search.pipeline.worker_status)."""

    IDLE = "idle"  # not loaded (yet)
    LOADING = "loading"
    OK = "ok"
    ERROR = "error"  # the load failed; the detail says why


class OcrUnavailable(RuntimeError):
    """The OCR engine could not be loaded; the message says why."""


def _rapidocr(threads: int | None) -> RapidOCR:
    # One inter-op thread: the models are sequential graphs; parallelism is intra-op.
    sized = {"intra_op_num_threads": threads, "inter_op_num_threads": 1} if threads else {}
    return RapidOCR(print_verbose=False, **sized)


class OcrEngine:
    """The process's OCR engine, with the encoder's life cycle (search.engines.encoder.holder): loaded
    once, under a lock (threads asking at once wait for the one load), its state readable at any
    time without blocking; a failed load is kept and reported, and tried again only after a
    cool-down, not on every image. `threads`: onnxruntime's intra-op threads, fixed when the engine
    is made (None: onnxruntime's default)."""

    retry_after_error_s = 30.0

    def __init__(self, factory: Callable[[int | None], RapidOCR] = _rapidocr) -> None:
        self._factory = factory
        self._load_lock = threading.Lock()
        # Not the load lock: asking for a background load must not wait for a load in progress.
        self._start_lock = threading.Lock()
        # One onnxruntime session set, used by one thread at a time.
        self._run_lock = threading.Lock()
        self._engine: RapidOCR | None = None
        self._error = ""
        self._error_at = 0.0
        self._state: tuple[OcrState, str] = (OcrState.IDLE, "")

    @property
    def loaded(self) -> bool:
        return self._engine is not None

    def state(self) -> tuple[OcrState, str]:
        """(state, plain-words detail): never blocks, never loads."""
        return self._state

    def load(self, threads: int | None = None) -> RapidOCR:
        """The engine, loaded on first use (about a second: three ONNX models). OcrUnavailable when
        the load fails, or failed less than `retry_after_error_s` ago."""
        if self._engine is not None:
            return self._engine
        with self._load_lock:
            if self._engine is not None:
                return self._engine
            if self._error and time.monotonic() - self._error_at < self.retry_after_error_s:
                raise OcrUnavailable(self._error)
            self._state = (OcrState.LOADING, "loading the OCR engine")
            started = time.monotonic()
            try:
                engine = self._factory(threads)
            except Exception as exc:
                self._error, self._error_at = f"the OCR engine could not be loaded: {exc}", time.monotonic()
                self._state = (OcrState.ERROR, self._error)
                raise OcrUnavailable(self._error) from exc
            self._engine, self._error = engine, ""
            self._state = (OcrState.OK, "reads words in images")
            logger.info("Loaded the OCR engine in %.1f s", time.monotonic() - started)
            return engine

    def start_loading_in_background(self, threads: int | None = None) -> threading.Thread | None:
        """Load in a daemon thread, so a worker is ready before its first image; None when loaded
        or loading already."""
        with self._start_lock:
            if self._engine is not None or self._state[0] == OcrState.LOADING:
                return None
            self._state = (OcrState.LOADING, "loading the OCR engine")  # seen before the thread runs
        thread = threading.Thread(target=self._load_quietly, args=(threads,), name="ocr-loader", daemon=True)
        thread.start()
        return thread

    def _load_quietly(self, threads: int | None) -> None:
        try:
            self.load(threads)
        except OcrUnavailable as exc:  # kept in the state; read_text reports it per image
            logger.error("%s", exc)

    def run(self, pixels: np.ndarray, threads: int | None = None) -> list:
        """rapidocr's raw findings on BGR `pixels`: [box, text, score, character boxes, ...]."""
        engine = self.load(threads)
        with self._run_lock:
            found, _ = engine(pixels, use_det=True, use_cls=USE_CLS, use_rec=True, return_word_box=True)
        return found or []


_engine = OcrEngine()  # this process's


def engine() -> OcrEngine:
    """The process-wide OCR engine (loaded on first use, or ahead by `start_loading_in_background`)."""
    return _engine


def working_copy(image: PILImage.Image, max_side: int) -> tuple[np.ndarray, float]:
    """RGB pixels as the BGR array the models expect, scaled so the longer side is at most
    `max_side`, and the factor that maps its coordinates back to the original."""
    image = image.convert("RGB")
    scale = 1.0
    longest = max(image.size)
    if longest > max_side:
        scale = max_side / longest
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, PILImage.Resampling.BILINEAR)
    return np.asarray(image)[:, :, ::-1].copy(), scale


def is_noise(text: str, score: float) -> bool:
    """Too unsure to keep, or no letter or digit at all (a "★" or "®" is nothing to search for)."""
    letters = sum(ch.isalnum() for ch in text)
    return not letters or score < (MIN_SCORE_SHORT if letters <= SHORT else MIN_SCORE)


def _is_cjk(ch: str) -> bool:
    return "\u3040" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af"  # kana, CJK, hangul: no spaces


def _ink_columns(gray: np.ndarray, box: list) -> tuple[np.ndarray, int, int] | None:
    """Which columns of a horizontal text box hold ink (Otsu; light text on dark too), the text's
    height in pixels and the box's left edge; None for a slanted or empty box."""
    (x_a, y_a), (x_b, y_b) = box[0], box[1]
    if abs(y_b - y_a) > 0.05 * max(1.0, abs(x_b - x_a)):
        return None  # slanted: columns would cut across letters
    xs, ys = [p[0] for p in box], [p[1] for p in box]
    left, top = max(0, int(min(xs))), max(0, int(min(ys)))
    crop = gray[top : int(max(ys)) + 1, left : int(max(xs)) + 1]
    if crop.size == 0:
        return None
    _, mask = cv2.threshold(crop, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    ink = mask == 0
    if ink.mean() > 0.5:
        ink = ~ink
    rows = ink.sum(axis=1)
    if not rows.max():
        return None
    # The band most ink lies in: the fringes of the lines above and below are left out.
    band = np.flatnonzero(rows >= 0.15 * rows.max())
    return ink[band[0] : band[-1] + 1].any(axis=0), int(band[-1] - band[0] + 1), left


def _blank_run(columns: np.ndarray) -> int:
    longest = run = 0
    for inked in columns:
        run = 0 if inked else run + 1
        longest = max(longest, run)
    return longest


def spaced(text: str, box: list, char_boxes: list, gray: np.ndarray) -> str:
    """`text` with a space wherever the picture shows a word gap between two letters the recogniser
    ran together (it does on small or tightly set type). `char_boxes`: one box per character of
    `text`, left to right, in `gray`'s pixels."""
    measured = _ink_columns(gray, box) if len(char_boxes) == len(text) > 1 else None
    if measured is None:
        return text
    columns, height, left = measured
    centres = [int((b[0][0] + b[1][0]) / 2) - left for b in char_boxes]
    gaps = {
        i: _blank_run(columns[max(0, centres[i - 1]) : max(0, centres[i]) + 1])
        for i in range(1, len(text))
        if " " not in text[i - 1 : i + 1] and not (_is_cjk(text[i - 1]) or _is_cjk(text[i]))
    }
    if not gaps:
        return text
    typical = float(np.median(list(gaps.values())))
    cut = max(WORD_GAP * height, WORD_GAP_RATIO * typical, 1.0)
    return "".join(" " + ch if gaps.get(i, 0) >= cut else ch for i, ch in enumerate(text))


def read_text(image: PILImage.Image, max_side: int = 1600, threads: int | None = None) -> OcrResult:
    """The text lines found in `image` (none for a picture without text)."""
    started = time.perf_counter()
    pixels, scale = working_copy(image, max_side)
    found = engine().run(pixels, threads)
    gray = cv2.cvtColor(pixels, cv2.COLOR_BGR2GRAY) if found else None
    boxes: list[TextBox] = []
    for box, text, score, char_boxes, *_ in found:
        if is_noise(str(text), float(score)):
            continue
        text = " ".join(spaced(str(text), box, char_boxes, gray).split())
        corners = [[round(float(x) / scale), round(float(y) / scale)] for x, y in box]
        boxes.append(TextBox(text, corners, float(score)))
    boxes = [b for line in lines(boxes) for b in line]
    return OcrResult(boxes, round((time.perf_counter() - started) * 1000))
