"""Settings for the test suite: the normal settings with a throw-away DATA_DIR and the demo model.

This only prepares the environment; webapp/settings.py stays the one place that reads it.
"""

import os
import tempfile
from pathlib import Path

_root = Path(__file__).resolve().parent.parent
# Tests never touch a developer's data or services: a fresh DATA_DIR, and conftest.py starts
# its own Redis and Milvus Lite server.
os.environ["DATA_DIR"] = tempfile.mkdtemp(prefix="imagesearch-test-")
# What manage.py's launcher.environment.prepare() does for a real run, fixed for tests; the Stack in
# conftest.py copies os.environ, so the worker processes get the same key.
os.environ["DJANGO_SECRET_KEY"] = "test-only-secret-key-never-used-outside-the-test-suite"
os.environ.setdefault("MODEL_CACHE_DIR", str(_root / ".test-data" / "models"))
os.environ["CLIP_MODEL"] = "demo"
for _name in ("REDIS_URL", "MILVUS_URI", "DATABASE_URL"):
    os.environ.pop(_name, None)
# TEST_DATABASE_URL runs the suite on another database, e.g. postgres://postgres@127.0.0.1/postgres;
# `make test`'s PostgreSQL pass sets it to its throwaway server (tests/postgres_server.py).
if os.environ.get("TEST_DATABASE_URL"):
    os.environ["DATABASE_URL"] = os.environ["TEST_DATABASE_URL"]
# Playwright's sync API runs an event loop in the test thread; Django's ORM is used beside it.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from .settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests
# Serve static files straight from the source folders: tests do not run collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# Throttles count in this process's memory and are generous, so no test is refused by accident;
# tests/webapp/test_throttling.py lowers them (and uses the real Redis cache).
CACHES["throttle"] = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "throttle"}  # noqa: F405
THROTTLE_RATES = {scope: "100000/min" for scope in THROTTLE_RATES}  # noqa: F405
AXES_FAILURE_LIMIT = 100
