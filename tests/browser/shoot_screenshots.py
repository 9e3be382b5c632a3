"""`make screenshots`: regenerate docs/screenshots/ (desktop, phone, dark) from a small library
indexed by the real workers. Not part of `make test` (its name does not match test_*.py).

SCREENSHOTS_DIR overrides the folder."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from PIL import Image as PILImage
from PIL import ImageDraw
from playwright.sync_api import Page, expect

from search.pipeline.queueing import enqueue_indexing
from tests.factories import PASSWORD, image_bytes, make_image

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

OUT = Path(os.environ.get("SCREENSHOTS_DIR", Path(__file__).resolve().parents[2] / "docs" / "screenshots"))
# Which pages each kind of screenshot shows.
WANTED = {
    "desktop": {"gallery", "upload", "image", "status", "search"},
    "phone": {"gallery", "upload", "image", "search"},
    "dark": {"gallery", "image"},
    "zh": {"gallery", "image", "search"},  # a phone asking for 简体中文
}
PALETTE = [(231, 111, 81), (42, 157, 143), (233, 196, 106), (38, 70, 83), (244, 162, 97), (106, 76, 147)]


def scene(seed: int) -> bytes:
    """A landscape-like picture: a sky gradient, hills and a sun, different for each seed."""
    rng = np.random.default_rng(seed)
    w, h = 640, 440
    top, bottom = np.array(PALETTE[seed % 6]), np.array(PALETTE[(seed + 2) % 6])
    ramp = np.linspace(0, 1, h)[:, None, None]
    sky = (top * (1 - ramp) + bottom * ramp).astype(np.uint8) * np.ones((1, w, 1), dtype=np.uint8)
    image = PILImage.fromarray(sky)
    draw = ImageDraw.Draw(image)
    sun = rng.integers(80, w - 80)
    draw.ellipse((sun - 45, 60, sun + 45, 150), fill=(255, 236, 179))
    for layer in range(3):
        shade = tuple(int(c * (0.55 + 0.15 * layer)) for c in PALETTE[(seed + 3 + layer) % 6])
        points = [(0, h)] + [
            (x, int(h * (0.55 + 0.1 * layer) + rng.integers(-40, 40))) for x in range(0, w + 80, 80)
        ]
        draw.polygon(points + [(w, h)], fill=shade)
    return image_bytes(image, "JPEG", quality=88)


def shoot(page: Page, name: str, full: bool = False) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUT / f"{name}.png"), full_page=full)


def log_in(page: Page, base: str) -> None:
    page.goto(base + "/accounts/login/")
    page.locator("input[name=username]").fill("alice")
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("main form [type=submit]").click()


def test_screenshots(browser, live_server, workers, clean_index) -> None:
    alice = get_user_model().objects.create_user("alice", password=PASSWORD)
    titles = [
        "Harbour at dusk",
        "Hills after rain",
        "Desert morning",
        "Lake view",
        "Autumn ridge",
        "Evening coast",
        "Snow line",
        "Valley fog",
        "Red cliffs",
        "Quiet bay",
        "High pass",
        "Dunes",
    ]
    images = []
    for n, title in enumerate(titles):
        month = 9 - n // 4
        created = datetime(2026, month, 20 - n, 10, tzinfo=UTC)
        images.append(make_image(alice, data=scene(n), title=title, tags=["trip"], created_at=created))
    enqueue_indexing([i.pk for i in images])
    base = live_server.url
    phone = {"width": 390, "height": 844}
    for shot_no, (kind, viewport, scheme, locale) in enumerate(
        (
            ("desktop", {"width": 1280, "height": 860}, "light", "en-GB"),
            ("phone", phone, "light", "en-GB"),
            ("dark", {"width": 1280, "height": 860}, "dark", "en-GB"),
            ("zh", phone, "light", "zh-CN"),
        )
    ):
        context = browser.new_context(
            viewport=viewport, color_scheme=scheme, device_scale_factor=1, locale=locale
        )
        page = context.new_page()
        log_in(page, base)
        page.goto(base + "/")
        expect(page.locator('#gallery .card[data-status="indexed"]').first).to_be_attached(timeout=90_000)
        expect(page.locator('#gallery [data-status="pending"]')).to_have_count(0, timeout=90_000)
        page.reload()
        page.wait_for_load_state("networkidle")
        shoot(page, f"{kind}-gallery")
        if "upload" in WANTED[kind]:
            upload_some(page, base, kind, shot_no)
        page.goto(base + "/")
        page.locator('#gallery .card[data-status="indexed"] a.thumb').nth(1).click()
        expect(page.locator("#similar .card").first).to_be_visible()
        page.wait_for_load_state("networkidle")
        shoot(page, f"{kind}-image")
        if "status" in WANTED[kind]:
            page.goto(base + "/status/")
            shoot(page, f"{kind}-status")
        if "search" in WANTED[kind]:
            page.goto(base + "/search/?q=" + ("湖边的山" if kind == "zh" else "hills by a lake"))
            expect(page.locator("#results .card").first).to_be_visible()
            page.wait_for_load_state("networkidle")
            shoot(page, f"{kind}-search")
        context.close()


def upload_some(page: Page, base: str, kind: str, shot_no: int) -> None:
    page.goto(base + "/upload/")
    page.locator("#file-input").set_input_files(
        [
            {"name": f"photo-{n}.jpg", "mimeType": "image/jpeg", "buffer": scene(20 + 3 * shot_no + n)}
            for n in range(3)
        ]
        + [{"name": "notes.txt.png", "mimeType": "image/png", "buffer": b"not an image"}]
    )
    # Each file is sent as soon as it is chosen.
    expect(page.locator('#upload-queue li[data-state="failed"]')).to_have_count(1)
    expect(page.locator('#upload-queue li[data-state="done"]')).to_have_count(3)
    shoot(page, f"{kind}-upload")
