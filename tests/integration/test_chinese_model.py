"""A Chinese query end to end on the Chinese-CLIP demo (real BERT Chinese vocabulary), through the
real workers: under the English demo a Chinese query is answered with a hint naming demo-zh;
after `reindex --model demo-zh` an upload is indexed by demo-zh and a Chinese query finds it, on
the API and the page, and a query longer than the model reads is cut with a note."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from search.pipeline import switching
from tests.integration.test_model_switch import wait_for
from tests.integration.test_upload_search_flow import api, upload, wait_indexed  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

QUERY = "杭州西湖的夜景"


def test_a_chinese_query_on_the_chinese_clip_demo(api):  # noqa: F811
    hinted = api.get("/api/search/", {"q": QUERY}).json()
    assert hinted["model"] == "demo"
    assert [(n["code"], n["model"]) for n in hinted["notes"]] == [("language", "demo-zh")]

    call_command("reindex", model="demo-zh", stdout=StringIO())  # nothing indexed yet: switches at once
    wait_for(lambda: switching.active_model_id() == "demo-zh", "the switch to demo-zh")
    created = upload(api, "circle", title="西湖夜景")
    assert wait_indexed(api, created["id"], timeout=120)["embedding_model"] == "demo-zh"

    for mode in ("semantic", "hybrid"):
        body = api.get("/api/search/", {"q": QUERY, "mode": mode}).json()
        assert body["model"] == "demo-zh" and body["notes"] == []
        assert [r["id"] for r in body["results"]] == [created["id"]]

    long = QUERY * 20  # 140 characters; Chinese-CLIP reads 52 tokens
    body = api.get("/api/search/", {"q": long, "mode": "semantic"}).json()
    assert [r["id"] for r in body["results"]] == [created["id"]]
    (note,) = body["notes"]
    assert note["code"] == "truncated" and "first 50 of 140 characters" in note["message"]

    page = Client()
    page.force_login(api.user)
    html = page.get("/search/", {"q": long}).content.decode()
    assert 'id="query-note-truncated"' in html and "first 50 of 140 characters" in html
    assert f'data-result-id="{created["id"]}"' in html
