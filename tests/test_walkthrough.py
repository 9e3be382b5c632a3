"""docs/architecture.md follows one upload and one search through at most six of the project's
modules, each a stop named `module` · `function`. This runs the real upload and search with every
stop wrapped, and checks that each named function exists, runs, and runs in the order told (stops
marked "beside" run in another thread at the same time, so only their running is checked)."""

from __future__ import annotations

import functools
import importlib
import re
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest
from celery import current_app
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import resolve
from rest_framework.test import APIClient

from search.query import queries
from tests.factories import api_client, draw_image, image_bytes, index, make_image, make_user

DOC = Path(__file__).resolve().parent.parent / "docs" / "architecture.md"
STOP = re.compile(r"^\d+\. \*\*`(?P<path>[\w/]+)\.py`\*\* · `(?P<function>[\w.]+)`(?P<rest>.*)$")
MAX_STOPS = 6


@dataclass(frozen=True)
class Stop:
    module: str
    function: str
    beside: bool

    @property
    def label(self) -> str:
        return f"{self.module}.{self.function}"

    def resolve(self) -> tuple[object, str, object]:
        """(the object holding the function, its attribute name, the function)."""
        holder: object = importlib.import_module(self.module)
        *path, name = self.function.split(".")
        for part in path:
            holder = getattr(holder, part)
        return holder, name, getattr(holder, name)


def walk(title: str) -> list[Stop]:
    section = DOC.read_text().split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]
    stops = []
    for line in section.splitlines():
        found = STOP.match(line)
        if found:
            module = found["path"].replace("/", ".")
            stops.append(Stop(module, found["function"], "(beside" in found["rest"]))
    return stops


UPLOAD = walk("One upload")
SEARCH = walk("One search")


@pytest.mark.parametrize("stops", [UPLOAD, SEARCH], ids=["upload", "search"])
def test_each_walk_names_at_most_six_modules_that_exist(stops: list[Stop]) -> None:
    assert 3 <= len(stops) <= MAX_STOPS
    assert len({s.module for s in stops}) == len(stops)
    for stop in stops:
        assert callable(stop.resolve()[2]), stop.label


def record(monkeypatch, stops: list[Stop]) -> list[str]:
    """Wraps each stop's function wherever it is bound (its module and every `from x import f`),
    so a call from any thread is heard; returns the labels in the order first entered."""
    entered: list[str] = []
    lock = threading.Lock()
    for stop in stops:
        holder, name, original = stop.resolve()

        @functools.wraps(original)
        def heard(*args, _original=original, _label=stop.label, **kwargs):
            with lock:
                if _label not in entered:
                    entered.append(_label)
            return _original(*args, **kwargs)

        monkeypatch.setattr(holder, name, heard)
        if isinstance(holder, ModuleType):  # also where it is imported, under any name
            for module in project_modules():
                for alias, value in list(vars(module).items()):
                    if value is original:
                        monkeypatch.setattr(module, alias, heard)
    return entered


def project_modules() -> list[ModuleType]:
    apps = ("core", "ingestion", "search", "moderation", "webapp")
    return [m for n, m in list(sys.modules.items()) if n.split(".")[0] in apps and m is not None]


def in_order(entered: list[str], stops: list[Stop]) -> None:
    assert sorted(entered) == sorted(s.label for s in stops), "a stop of the walk did not run"
    sequential = [s.label for s in stops if not s.beside]
    assert [label for label in entered if label in sequential] == sequential


def door(url: str, method: str) -> str:
    """The function that answers `method` at `url`, as `module.function` (class views and DRF's
    function views both)."""
    view = resolve(url).func
    cls = getattr(view, "view_class", None) or getattr(view, "cls", None)
    handler = getattr(cls, method.lower())
    if "<locals>" in handler.__qualname__:  # @api_view: DRF's class takes the function's names
        return f"{cls.__module__}.{cls.__name__}"
    return f"{handler.__module__}.{handler.__qualname__}"


@pytest.mark.django_db
def test_one_upload_takes_the_documented_path(
    monkeypatch, clean_index, django_capture_on_commit_callbacks
) -> None:
    assert door("/api/images/", "POST") == UPLOAD[0].label
    entered = record(monkeypatch, UPLOAD[1:])
    sent: list[tuple[str, list]] = []
    # The broker hop: the message is kept here and the ingest worker's task run in this process.
    monkeypatch.setattr(current_app, "send_task", lambda name, args, **kw: sent.append((name, args)))
    client = api_client(make_user("walker"))
    data = image_bytes(draw_image("circle"), "PNG")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/images/", {"file": SimpleUploadedFile("c.png", data, "image/png")})
    assert response.status_code == 201, response.content
    [(task_name, [ids])] = sent
    current_app.tasks[task_name].apply(args=[ids])
    in_order(entered, UPLOAD[1:])
    assert client.get(f"/api/images/{ids[0]}/").json()["status"] == "indexed"


@pytest.mark.django_db
def test_one_search_takes_the_documented_path(monkeypatch, clean_index) -> None:
    index(make_image(make_user("seeker"), "circle", title="a red circle"))
    assert door("/api/search/", "GET") == SEARCH[0].label
    # The query worker's side, run in this process instead of across the `query` queue.
    monkeypatch.setattr(queries, "_ask", lambda task, arg: task.apply(args=[arg]).get())
    entered = record(monkeypatch, SEARCH[1:])
    response = APIClient().get("/api/search/", {"q": "red circle"})
    assert response.status_code == 200, response.content
    assert response.json()["results"]
    in_order(entered, SEARCH[1:])
