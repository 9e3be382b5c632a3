"""The same input gets the same answer everywhere: pages and API parse it with the same forms, so a
bad parameter is a 400 with the same words on the image list, the gallery, the search API and the
search page. Search parses its parameters before any embedding, so no worker is needed here."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.test import Client
from django.utils.html import escape

pytestmark = pytest.mark.django_db

ENDPOINTS = [
    # (path, fixed parameters, answers in JSON)
    ("/api/images/", {}, True),
    ("/", {}, False),
    ("/api/search/", {"q": "cat"}, True),
    ("/search/", {"q": "cat"}, False),
]

CASES = [
    ({"owner": "me"}, "owner=me needs you to be signed in."),
    ({"created_after": "2024-13-01"}, "created_after must be a date (YYYY-MM-DD) or an ISO 8601 date-time."),
    (
        {"created_before": "2024-02-30"},
        "created_before must be a date (YYYY-MM-DD) or an ISO 8601 date-time.",
    ),
    (
        {"created_before": "9999-12-31T23:00:00-05:00"},
        "created_before is out of range: use a date between 0001-01-01 and 9999-12-31.",
    ),
    ({"visibility": "friends"}, "visibility must be 'public' or 'private'."),
    ({"owner": "\x00"}, "owner: Null characters are not allowed."),
    ({"owner": "a" * 151}, "owner: Ensure this value has at most 150 characters (it has 151)."),
]


@pytest.mark.parametrize(("params", "message"), CASES, ids=[str(c[0])[:40] for c in CASES])
@pytest.mark.parametrize(("path", "fixed", "is_json"), ENDPOINTS, ids=[e[0] for e in ENDPOINTS])
def test_the_same_bad_input_gets_the_same_400_everywhere(
    path: str, fixed: dict, is_json: bool, params: dict, message: str
) -> None:
    response = Client().get(f"{path}?{urlencode({**fixed, **params})}")
    assert response.status_code == 400, response.content[:500]
    if is_json:
        assert response.json() == {"error": message}
    else:
        html = response.content.decode()
        assert escape(message) in html
        assert 'class="topbar"' in html  # shown inside the site layout


@pytest.mark.parametrize(
    ("path", "params", "is_json", "message"),
    [
        ("/api/images/", {"tag": "\x00"}, True, "tag: Null characters are not allowed."),
        ("/", {"tag": "\x00"}, False, "tag: Null characters are not allowed."),
        ("/api/images/", {"ids": "1\x00"}, True, "ids: Null characters are not allowed."),
        ("/", {"ids": "1\x00"}, False, "ids: Null characters are not allowed."),
        ("/api/images/", {"created_after": "\x00"}, True, "created_after must be a date"),
        ("/", {"status": "\x00"}, False, "status must be one of: pending, indexed, failed."),
        ("/api/search/", {"q": "cat\x00"}, True, "q: Null characters are not allowed."),
        ("/search/", {"q": "cat\x00"}, False, "q: Null characters are not allowed."),
    ],
)
def test_nul_bytes_are_a_400_not_a_500(path: str, params: dict, is_json: bool, message: str) -> None:
    response = Client().get(f"{path}?{urlencode(params)}")
    assert response.status_code == 400, response.content[:500]
    if is_json:
        assert response.json()["error"].startswith(message)
    else:
        assert escape(message) in response.content.decode()


def test_a_good_filter_is_accepted_on_the_list_endpoints() -> None:
    """The contrast: the same parameters, well formed, are fine."""
    params = {"owner": "nobody", "visibility": "public", "created_after": "2024-03-01"}
    assert Client().get(f"/api/images/?{urlencode(params)}").status_code == 200
    assert Client().get(f"/?{urlencode(params)}").status_code == 200
