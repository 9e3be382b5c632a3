"""Words inside images: the real PP-OCRv4 models on drawn English and Chinese text, on scikit-image's
photographs without text (the named set the confidence floor is tuned on) and its page of text
(word boundaries); the worker step that stores them; reconcile queuing images never read; and the
whole path through real workers (indexed first, words after)."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image as PILImage
from PIL import ImageDraw, ImageFont
from rest_framework.test import APIClient
from skimage import data as skimage_data

from ingestion.models import Image
from search.engines import ocr
from search.engines.encoder import EncoderState
from search.models import OcrRun
from search.pipeline import text_reading
from search.pipeline.reconcile import reconcile
from search.pipeline.worker_status import Heartbeat, SummaryState, encoder_summary
from tests.factories import draw_image, image_bytes, index, make_image, make_user, noise_png

CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
LATIN_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
# scikit-image's photographs without legible text (its motorcycles say YAMAHA). Before the floor
# was tuned they read "O" on the cat's face, "M6" on the coins, "®" in the cell, "卡" in the
# phantom, "n" on the horse and "0000" on the cameraman's coat.
NO_TEXT = [
    "astronaut",
    "brick",
    "camera",
    "cell",
    "chelsea",
    "clock",
    "coffee",
    "coins",
    "colorwheel",
    "grass",
    "gravel",
    "horse",
    "hubble_deep_field",
    "immunohistochemistry",
    "moon",
    "retina",
    "rocket",
    "shepp_logan_phantom",
]


def photograph(name: str) -> PILImage.Image:
    pixels = getattr(skimage_data, name)()
    if pixels.dtype != np.uint8:  # the horse is a mask, the phantom floats in [0, 1]
        pixels = (pixels.astype(float) / max(1.0, float(pixels.max())) * 255).astype(np.uint8)
    return PILImage.fromarray(pixels).convert("RGB")


def as_jpeg(image: PILImage.Image, scale: int = 1) -> PILImage.Image:
    """As a camera or phone would store it: larger, JPEG-compressed."""
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale), PILImage.Resampling.BICUBIC)
    return PILImage.open(io.BytesIO(image_bytes(image, "JPEG", quality=85))).convert("RGB")


def font(size: int) -> ImageFont.FreeTypeFont:
    if not CJK_FONT.exists():
        pytest.fail(f"{CJK_FONT} is missing: `make test` installs Debian's fonts-wqy-microhei with apt")
    return ImageFont.truetype(str(CJK_FONT), size)


def sign(lines: list[str], size=(900, 320), scale: int = 1) -> PILImage.Image:
    image = PILImage.new("RGB", (size[0] * scale, size[1] * scale), (250, 248, 240))
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((40 * scale, (40 + 120 * i) * scale), line, font=font(56 * scale), fill=(20, 20, 20))
    return image


def test_reads_chinese_and_english() -> None:
    found = ocr.read_text(sign(["欢迎光临杭州西湖", "Harbour Street Bakery"]))
    lines = found.text.split("\n")
    assert lines[0] == "欢迎光临杭州西湖"
    assert "Street Bakery" in lines[1] and "Harbour" in lines[1]
    first = found.boxes[0]
    xs, ys = [x for x, _ in first.box], [y for _, y in first.box]
    assert 20 <= min(xs) <= 60 and 20 <= min(ys) <= 70  # where it was drawn
    assert 0.5 <= first.score <= 1.0 and first.as_dict()["text"] == "欢迎光临杭州西湖"


def test_a_picture_without_text_has_no_words() -> None:
    found = ocr.read_text(draw_image("circle", size=(640, 480)))
    assert found.boxes == [] and found.text == ""


@pytest.mark.parametrize("name", NO_TEXT)
def test_photographs_without_text_read_no_text(name: str) -> None:
    picture = photograph(name)
    assert ocr.read_text(picture).boxes == []
    if name != "astronaut":  # scaled up, her name patch becomes legible: real text
        assert ocr.read_text(as_jpeg(picture, scale=3)).boxes == []


def test_text_images_keep_their_words_and_word_boundaries() -> None:
    page = ocr.read_text(photograph("page")).text.split("\n")
    # The heading's words were run together ("Region-basedsegmentation").
    assert page[0] == "Region-based segmentation"
    assert page[1] == "Let us first determine markers of the coins and the"
    image = PILImage.new("RGB", (760, 60), (250, 248, 240))
    small = ImageFont.truetype(str(LATIN_FONT), 16)  # small type: the recogniser drops every space
    ImageDraw.Draw(image).text(
        (20, 20), "Harbour Street Bakery, open daily till nine", font=small, fill="black"
    )
    assert ocr.read_text(image).text == "Harbour Street Bakery, open daily till nine"
    for text in (["欢迎光临杭州西湖", "今日特价牛肉面"], ["A", "面"], ["OK 24"]):  # short words stay
        assert ocr.read_text(sign(text)).text.split("\n") == text


@pytest.mark.parametrize(
    ("text", "score", "noise"),
    [("O", 0.71, True), ("O", 0.95, False), ("★", 0.99, True), ("M6", 0.85, True), ("Bakery", 0.85, False)],
)
def test_what_counts_as_noise(text: str, score: float, noise: bool) -> None:
    assert ocr.is_noise(text, score) is noise


def test_large_images_are_read_at_the_working_size_with_boxes_in_original_pixels() -> None:
    big = sign(["今日特价牛肉面"], scale=3)  # 2700 px wide
    pixels, factor = ocr.working_copy(big, 1000)
    assert max(pixels.shape[:2]) == 1000 and factor == pytest.approx(1000 / 2700)
    found = ocr.read_text(big, max_side=1000)
    assert found.text == "今日特价牛肉面"
    assert min(x for x, _ in found.boxes[0].box) >= 100  # drawn at x=120 in the big picture


def test_words_on_one_line_are_joined_in_reading_order() -> None:
    def box(text, x, y):
        return ocr.TextBox(text, [[x, y], [x + 50, y], [x + 50, y + 20], [x, y + 20]], 0.9)

    result = ocr.OcrResult([box("Street", 200, 102), box("Harbour", 10, 100), box("below", 10, 160)])
    assert result.text == "Harbour Street\nbelow"


# ---------------------------------------------------------------------------- the engine's life cycle


class CountingFactory:
    """Makes a stand-in engine, counting the loads; `hold` keeps a load running until released."""

    def __init__(self, fail: str = "", hold: bool = False) -> None:
        self.calls: list[int | None] = []
        self.fail = fail
        self.entered = threading.Event()
        self.release = threading.Event()
        if not hold:
            self.release.set()

    def __call__(self, threads: int | None) -> object:
        self.calls.append(threads)
        self.entered.set()
        self.release.wait(30)
        if self.fail:
            raise RuntimeError(self.fail)
        return object()


def test_two_threads_asking_at_once_load_the_engine_once() -> None:
    factory = CountingFactory(hold=True)
    engine = ocr.OcrEngine(factory)
    got: list[object] = []
    askers = [threading.Thread(target=lambda: got.append(engine.load(2))) for _ in range(2)]
    askers[0].start()
    assert factory.entered.wait(30)
    assert engine.state() == (ocr.OcrState.LOADING, "loading the OCR engine") and not engine.loaded
    askers[1].start()
    askers[1].join(0.3)  # a chance to start a second load, if nothing stopped it
    factory.release.set()
    for asker in askers:
        asker.join(30)
    assert factory.calls == [2]
    assert len(got) == 2 and got[0] is got[1]
    assert engine.loaded and engine.state() == (ocr.OcrState.OK, "reads words in images")


def test_a_failed_load_is_kept_with_its_reason_and_retried_after_a_cool_down() -> None:
    factory = CountingFactory(fail="det.onnx is missing")
    engine = ocr.OcrEngine(factory)
    with pytest.raises(ocr.OcrUnavailable, match="det.onnx is missing"):
        engine.load()
    expected = (ocr.OcrState.ERROR, "the OCR engine could not be loaded: det.onnx is missing")
    assert engine.state() == expected and not engine.loaded
    with pytest.raises(ocr.OcrUnavailable, match="det.onnx is missing"):
        engine.load()  # within the cool-down: reported again, not loaded again
    assert len(factory.calls) == 1
    factory.fail, engine.retry_after_error_s = "", 0.0
    engine.load()
    assert len(factory.calls) == 2 and engine.state()[0] == ocr.OcrState.OK


def test_loading_in_the_background_starts_once() -> None:
    factory = CountingFactory(hold=True)
    engine = ocr.OcrEngine(factory)
    assert engine.state()[0] == ocr.OcrState.IDLE
    thread = engine.start_loading_in_background(3)
    assert thread is not None and engine.state()[0] == ocr.OcrState.LOADING
    assert factory.entered.wait(30)
    assert engine.start_loading_in_background(3) is None  # loading already: answered at once
    assert not engine.loaded
    factory.release.set()
    thread.join(30)
    assert factory.calls == [3] and engine.loaded
    assert engine.start_loading_in_background(3) is None  # loaded


def test_the_engines_states_are_the_encoders_words() -> None:
    """A worker publishes either the same way (search.pipeline.worker_status)."""
    assert [str(s) for s in ocr.OcrState] == [str(s) for s in EncoderState]


def test_the_ocr_worker_reports_its_engines_load_as_the_encoders_is(settings, monkeypatch) -> None:
    settings.OCR_ENABLED, settings.OCR_THREADS = True, 2
    factory = CountingFactory(fail="no onnxruntime provider", hold=True)
    monkeypatch.setattr(ocr, "_engine", ocr.OcrEngine(factory))
    heartbeat = Heartbeat("ocr@test", ["ocr"], state=text_reading.reader_state)
    assert text_reading.reader_state()[0] == EncoderState.IDLE  # not asked to load yet
    thread = text_reading.start_warming_up()
    assert thread is not None and factory.entered.wait(30)
    assert encoder_summary([heartbeat.snapshot()], "ocr")[0] == SummaryState.LOADING
    factory.release.set()
    thread.join(30)
    published = heartbeat.snapshot()
    assert (published.state, published.detail) == (
        EncoderState.ERROR,
        "the OCR engine could not be loaded: no onnxruntime provider",
    )
    assert encoder_summary([published], "ocr") == (SummaryState.ERROR, published.detail)
    assert factory.calls == [2]


def test_with_ocr_off_the_worker_loads_nothing_and_says_so(settings, monkeypatch) -> None:
    settings.OCR_ENABLED = False
    factory = CountingFactory()
    monkeypatch.setattr(ocr, "_engine", ocr.OcrEngine(factory))
    assert text_reading.start_warming_up() is None
    assert text_reading.reader_state() == (EncoderState.OK, "OCR is off (OCR_ENABLED)")
    assert factory.calls == [] and not ocr.engine().loaded


@pytest.mark.django_db
def test_the_worker_step_stores_text_boxes_and_marks_images_read(settings) -> None:
    alice = make_user("alice")
    words = make_image(alice, data=image_bytes(sign(["西湖 Bakery"]), "JPEG", quality=92))
    plain = make_image(alice, "square")
    pending = make_image(alice, "circle", color=(0, 0, 200))
    Image.objects.filter(pk__in=[words.pk, plain.pk]).update(status=Image.Status.INDEXED)

    assert set(text_reading.unread_ids()) == {words.pk, plain.pk}
    report = text_reading.read_images([words.pk, plain.pk, pending.pk])
    assert report.read == [words.pk, plain.pk] and report.with_text == [words.pk] and not report.failed
    run = OcrRun.objects.get(image=words)
    assert "西湖" in run.text and "Bakery" in run.text
    assert run.boxes[0]["box"][0][0] < 120 and set(run.boxes[0]) == {"text", "box", "score"}
    assert OcrRun.objects.get(image=plain).text == ""  # read, no words: not read again
    assert text_reading.unread_ids() == []
    assert text_reading.read_images([words.pk]).read == []  # already read
    assert text_reading.read_images([words.pk], force=True).read == [words.pk]


@pytest.mark.django_db
def test_a_damaged_original_is_noted_and_the_image_stays_searchable() -> None:
    alice = make_user("alice")
    image = make_image(alice, data=noise_png())  # its own stored file, safe to damage
    Image.objects.filter(pk=image.pk).update(status=Image.Status.INDEXED)
    with default_storage.open(image.original.name, "wb") as fh:
        fh.write(b"not an image any more")
    report = text_reading.read_images([image.pk])
    assert report.failed == [image.pk]
    run = OcrRun.objects.get(image=image)
    assert run.error and Image.objects.get(pk=image.pk).status == Image.Status.INDEXED


@pytest.mark.django_db
def test_reconcile_queues_images_never_read(clean_index, monkeypatch) -> None:
    alice = make_user("alice")
    image = make_image(alice, "circle")
    index(image)
    queued = []
    monkeypatch.setattr(
        text_reading.current_app, "send_task", lambda name, args, **kw: queued.append((name, args))
    )
    assert reconcile().ocr_queued == 1
    assert queued == [("search.tasks.ocr_images", [[image.pk]])]


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_upload_is_indexed_first_and_its_words_follow(workers, clean_index) -> None:
    alice = make_user("alice")
    client = APIClient()
    client.force_authenticate(alice)
    data = image_bytes(sign(["今日特价牛肉面条"]), "PNG")
    response = client.post(
        "/api/images/", {"file": SimpleUploadedFile("menu.png", data, "image/png")}, format="multipart"
    )
    assert response.status_code == 201, response.content
    pk = response.json()["id"]
    deadline = time.monotonic() + 90
    body = {}
    while time.monotonic() < deadline:
        body = client.get(f"/api/images/{pk}/").json()
        if body["status"] == "indexed" and body["ocr_text"]:
            break
        time.sleep(0.3)
    assert body["status"] == "indexed" and body["ocr_text"] == "今日特价牛肉面条", body
    found = client.get("/api/search/", {"q": "面条"}).json()["results"]
    assert found[0]["id"] == pk and found[0]["matches"] == ["semantic", "ocr"]
    page = client.get(f"/images/{pk}/")
    assert "今日特价牛肉面条" in page.content.decode()
