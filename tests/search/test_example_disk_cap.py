"""Stored search examples stay within SEARCH_EXAMPLES_MAX_BYTES all together (issue 15 item 5): a
new cookie makes a new session, so the per-session cap alone does not bound the disk."""

from __future__ import annotations

import os
import time

import pytest
from django.contrib.sessions.backends.signed_cookies import SessionStore
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import RequestFactory

from search.query import examples

KB = 1024


@pytest.fixture
def folder():
    """An empty examples folder (stored files outlive a test), emptied again afterwards."""

    def empty() -> None:
        if default_storage.exists(examples.FOLDER):
            for name in default_storage.listdir(examples.FOLDER)[1]:
                default_storage.delete(f"{examples.FOLDER}/{name}")

    empty()
    yield
    empty()


def fresh_session_request():
    request = RequestFactory().post("/search/")
    request.session = SessionStore()
    return request


def stored() -> list[str]:
    return sorted(default_storage.listdir(examples.FOLDER)[1])


def test_past_the_cap_the_oldest_examples_go_first(folder, settings):
    settings.SEARCH_EXAMPLES_MAX_BYTES = 100 * KB
    tokens = []
    for n in range(4):  # four visitors, each with a new session: 4 x 30 KB
        tokens.append(examples.keep(fresh_session_request(), bytes([n]) * 30 * KB))
        # Distinct ages, oldest first, whatever the file system's time resolution.
        path = default_storage.path(examples._name(tokens[-1]))
        os.utime(path, (time.time() - 100 + n, time.time() - 100 + n))
    assert stored() == sorted(f"{token}.png" for token in tokens[1:])  # the first went
    total = sum(default_storage.size(f"{examples.FOLDER}/{name}") for name in stored())
    assert total <= settings.SEARCH_EXAMPLES_MAX_BYTES


def test_an_example_larger_than_the_cap_is_still_kept_alone(folder, settings):
    settings.SEARCH_EXAMPLES_MAX_BYTES = 10 * KB
    default_storage.save(f"{examples.FOLDER}/{'a' * 22}.png", ContentFile(b"x" * 5 * KB))
    token = examples.keep(fresh_session_request(), b"y" * 20 * KB)
    assert stored() == [f"{token}.png"]  # the search it was uploaded for still works


def test_the_default_cap_is_500_mb():
    from webapp import settings as project_settings

    assert project_settings.SEARCH_EXAMPLES_MAX_BYTES == 500 * 1024 * 1024
