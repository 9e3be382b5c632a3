"""Session-wide fixtures. Real services are opt-in: `redis_server` and `milvus_server` start a
real Redis and a real `milvus-lite server` once per session, the first time a test asks for them;
`milvus_standalone` a real Milvus 2.3.5 server (`on_milvus_standalone` points one test at it);
`workers` adds real Celery workers. Every test that uses the database gets both servers, because
saving an image announces work (indexing, index updates) that reaches them. Pure unit tests start
nothing. Test data comes from `tests/factories.py`."""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation

from launcher.stack import Stack, free_port
from search.engines.vector_store import close_client, get_client
from search.index import forget_collections
from search.pipeline.worker_status import SummaryState, encoder_summary, read_all
from tests.factories import PASSWORD, make_user
from webapp.celery import app as celery_app


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("imagesearch")
    group.addoption(
        "--database-tests-only",
        action="store_true",
        help="deselect the tests that do not touch the database (make test's PostgreSQL pass)",
    )
    group.addoption(
        "--expect-database",
        choices=("sqlite", "postgresql"),
        help="fail unless the test database is this engine (make test names it for each pass)",
    )


def uses_database(item: pytest.Item) -> bool:
    """A django_db test, or one whose fixtures set up the test database (db, live_server, workers)."""
    fixtures = getattr(item, "fixturenames", ())
    return bool(item.get_closest_marker("django_db")) or "django_db_setup" in fixtures


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("database_tests_only"):
        return
    # The SQLite pass runs every test; the PostgreSQL pass only those the database can change.
    skipped = [item for item in items if not uses_database(item)]
    if skipped:
        config.hook.pytest_deselected(items=skipped)
        items[:] = [item for item in items if uses_database(item)]


@pytest.fixture(scope="session", autouse=True)
def _throwaway_data_dir():
    """Set up first, so torn down last: after the servers stop and the test database is gone."""
    data_dir = Path(settings.DATA_DIR)
    yield data_dir
    # The folder made by webapp/test_settings.py; KEEP_TEST_DATA=1 keeps its logs.
    if data_dir.name.startswith("imagesearch-test-") and not os.environ.get("KEEP_TEST_DATA"):
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def stack(_throwaway_data_dir):
    """The process supervisor `make run` uses, for this session's servers and workers."""
    stack = Stack(_throwaway_data_dir, log_dir=_throwaway_data_dir / "logs")
    stack.env["DJANGO_SETTINGS_MODULE"] = "webapp.settings"
    yield stack
    stack.stop()


@pytest.fixture(scope="session")
def redis_server(stack) -> str:
    """A real Redis; this process's broker and result backend point at it."""
    url = stack.start_redis()
    settings.REDIS_URL = settings.CELERY_BROKER_URL = settings.CELERY_RESULT_BACKEND = url
    celery_app.conf.update(broker_url=url, result_backend=url)
    return url


@pytest.fixture(scope="session")
def milvus_server(stack) -> str:
    """A real `milvus-lite server`; this process's vector store points at it."""
    uri = stack.start_milvus()
    settings.MILVUS_URI = uri
    forget_collections()
    return uri


@pytest.fixture(scope="session")
def milvus_standalone(stack) -> str:
    """The URI of a real Milvus 2.3.5 standalone server (tests/milvus_standalone.py, a process of
    the session's Stack), started the first time a test asks for it. Settings keep pointing at
    Milvus Lite. Never a skip: a server that cannot start fails every test that needs it, saying why."""
    base = stack.data_dir / "milvus-standalone"
    # The unpacked binary is kept beside the model cache (.test-data), one copy per package version.
    cache = Path(__file__).resolve().parent.parent / ".test-data"
    argv = [sys.executable, "-m", "tests.milvus_standalone", str(base), str(free_port())]
    argv += ["--bin-cache", str(cache)]
    service = stack._spawn("milvus-standalone", argv)
    deadline = time.monotonic() + 180  # about 4 s here, 10 s the first time (unpacking)
    while not (base / "ready").exists():
        if service.process.poll() is not None:
            pytest.fail(f"the Milvus server exited at start-up:\n{stack.tail(service)}", pytrace=False)
        if time.monotonic() > deadline:
            pytest.fail(f"the Milvus server did not start in 180 s:\n{stack.tail(service)}", pytrace=False)
        time.sleep(0.1)
    uri = f"http://127.0.0.1:{(base / 'ready').read_text()}"  # the port it found free
    yield uri
    close_client(uri)


@pytest.fixture
def on_milvus_standalone(milvus_standalone, milvus_server, settings) -> str:
    """This test's vector store is the real Milvus server, emptied first; the handles cached for
    Milvus Lite are forgotten before and after, and `settings` puts Lite's URI back."""
    client = get_client(milvus_standalone)
    for name in client.list_collections():
        client.drop_collection(name)
    forget_collections()
    settings.MILVUS_URI = milvus_standalone
    yield milvus_standalone
    forget_collections()


@pytest.fixture
def services(redis_server, milvus_server) -> tuple[str, str]:
    return redis_server, milvus_server


@pytest.fixture(autouse=True)
def _default_language():
    """Each test starts in the default language: a request answered in zh-Hans by the test client
    leaves its language active in this thread, and the next test's messages would be Chinese."""
    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _services_for_database_tests(request) -> None:
    if request.node.get_closest_marker("django_db"):
        request.getfixturevalue("services")


def database_url(db: dict) -> str:
    """The URL of the test database this process uses, for the worker processes."""
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture(scope="session")
def workers(stack, redis_server, milvus_server, django_db_setup, django_db_blocker):
    """Real `ingest`, `ocr` and `query` Celery workers sharing the test database, as `make run`
    starts them (one queue each)."""
    from django.db import connection

    stack.env["DATABASE_URL"] = database_url(connection.settings_dict)
    started = [
        stack.start_worker("ingest"),
        stack.start_worker("ocr"),
        stack.start_worker("query", concurrency=2),
    ]
    # Generous: on a loaded 2-core machine a worker's start (Django, the model) can take minutes.
    deadline = time.monotonic() + 240
    while True:
        states = read_all()
        if all(encoder_summary(states, q)[0] == SummaryState.OK for q in ("ingest", "ocr", "query")):
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
def clean_index(milvus_server):
    """Drop every collection so a test sees only the vectors it writes."""
    client = get_client()
    for name in client.list_collections():
        client.drop_collection(name)
    forget_collections()
    yield
    forget_collections()


@pytest.fixture
def alice():
    return make_user("alice")


@pytest.fixture
def browser(alice):
    """A Django test client signed in as alice (tests/browser/ has its own `browser`: Chromium)."""
    client = Client()
    assert client.login(username="alice", password=PASSWORD)
    return client
