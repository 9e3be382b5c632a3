"""Headless Chromium (Debian's /usr/bin/chromium) driven by Playwright's sync API.

The browser is launched once per module; every test gets a fresh context (cookies, storage) and
page, and a screenshot of that page lands in the test's tmp_path when the test fails.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

# Assertions wait as long as actions do (context.set_default_timeout below): `make test` runs two
# passes with their own workers on 2 cores, where an upload can take longer than Playwright's 5 s.
expect.set_options(timeout=15_000)

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="session", autouse=True)
def _services_before_any_live_server(request) -> None:
    """Start Redis and Milvus (tests/conftest.py) before a test's `live_server` modifies the settings.

    Those fixtures point `settings.REDIS_URL` and `MILVUS_URI` at this session's servers by plain
    assignment. Made inside a test that uses `live_server` (pytest-django enables a
    `modify_settings` for its host for the test's duration), the assignment lands in that
    override and is undone with it: every later test then talked to the default Redis on 6379 and
    a Milvus under another data folder ("workers not ready", "Open local milvus failed") whenever a
    browser test was the session's first database test (`pytest tests/browser`, or a random order).
    Session-scoped, this runs before any test's own fixtures."""
    request.getfixturevalue("redis_server")
    request.getfixturevalue("milvus_server")


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        # Never a silent skip: `make test` installs it, so its absence is a real failure.
        pytest.fail(f"{CHROMIUM} is missing: run `make test` (it installs it) or apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, request, tmp_path):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        shot = tmp_path / "failure.png"
        try:
            page.screenshot(path=str(shot), full_page=True)
            print(f"screenshot of the failing page ({page.url}): {shot}")
        except Exception as exc:  # the page may be gone; the test's own error matters more
            print(f"no screenshot: {exc}")
    context.close()
