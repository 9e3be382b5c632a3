"""Shared fixtures: a real Redis and Milvus Lite server for the whole session, real Celery workers
for the integration and browser tests, and Pillow-drawn test images."""

from __future__ import annotations

import io
import os
import shutil
import time
from pathlib import Path

import pytest
from django.conf import settings
from PIL import Image as PILImage
from PIL import ImageDraw

from webapp.stack import Stack


@pytest.fixture(scope="session", autouse=True)
def embedded_services():
    """Start Redis and a Milvus Lite server and point this process at them."""
    from webapp.celery import app as celery_app

    stack = Stack(Path(settings.DATA_DIR), log_dir=Path(settings.DATA_DIR) / "logs")
    stack.env["DJANGO_SETTINGS_MODULE"] = "webapp.settings"
    try:
        redis_url = stack.start_redis()
        milvus_uri = stack.start_milvus()
    except Exception:
        stack.stop()
        raise
    settings.REDIS_URL = settings.CELERY_BROKER_URL = settings.CELERY_RESULT_BACKEND = redis_url
    settings.MILVUS_URI = milvus_uri
    celery_app.conf.update(broker_url=redis_url, result_backend=redis_url)
    yield stack
    stack.stop()
    data_dir = Path(settings.DATA_DIR)
    # The throw-away folder made by webapp/test_settings.py; KEEP_TEST_DATA=1 keeps its logs.
    if data_dir.name.startswith("imagesearch-test-") and not os.environ.get("KEEP_TEST_DATA"):
        shutil.rmtree(data_dir, ignore_errors=True)


def database_url(db: dict) -> str:
    """The URL of the test database this process uses, for the worker processes."""
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture(scope="session")
def workers(embedded_services, django_db_setup, django_db_blocker):
    """Real `ingest` and `query` Celery workers sharing the test database file."""
    from django.db import connection

    from search.worker_status import encoder_summary, read_all

    stack = embedded_services
    stack.env["DATABASE_URL"] = database_url(connection.settings_dict)
    started = [stack.start_worker("ingest"), stack.start_worker("query", concurrency=2)]
    deadline = time.monotonic() + 120
    while True:
        states = read_all()
        if all(encoder_summary(states, q)[0] == "ok" for q in ("ingest", "query")):
            break
        for service in started:
            if service.process.poll() is not None:
                pytest.fail(f"{service.name} exited: {stack.tail(service)}")
        if time.monotonic() > deadline:
            pytest.fail(f"workers not ready: {states}")
        time.sleep(0.2)
    yield stack
    for service in started:
        service.process.terminate()
    for service in started:
        service.process.wait(20)
        stack.services.remove(service)


@pytest.fixture
def clean_index():
    """Drop every collection so a test sees only the vectors it writes."""
    from search.index import forget_stores
    from search.vector_store import get_client

    client = get_client()
    for name in client.list_collections():
        client.drop_collection(name)
    forget_stores()
    yield
    forget_stores()


def draw_image(
    kind: str = "circle",
    size: tuple[int, int] = (320, 240),
    color=(200, 30, 30),
    background=(240, 240, 240),
    mode: str = "RGB",
) -> PILImage.Image:
    """A simple, distinct picture: tests build their own data."""
    image = PILImage.new("RGB", size, background)
    draw = ImageDraw.Draw(image)
    w, h = size
    if kind == "circle":
        draw.ellipse((w * 0.2, h * 0.2, w * 0.8, h * 0.8), fill=color)
    elif kind == "square":
        draw.rectangle((w * 0.25, h * 0.25, w * 0.75, h * 0.75), fill=color)
    elif kind == "stripes":
        for x in range(0, w, 20):
            draw.rectangle((x, 0, x + 9, h), fill=color)
    elif kind == "triangle":
        draw.polygon([(w * 0.5, h * 0.1), (w * 0.9, h * 0.9), (w * 0.1, h * 0.9)], fill=color)
    else:
        raise ValueError(kind)
    return image.convert(mode) if mode != "RGB" else image


def image_bytes(image: PILImage.Image, fmt: str = "PNG", **save_args) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **save_args)
    return out.getvalue()


@pytest.fixture
def png_bytes():
    return lambda kind="circle", **kw: image_bytes(draw_image(kind, **kw))
