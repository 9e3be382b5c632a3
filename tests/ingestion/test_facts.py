"""The image JSON's fields kept by search reach ingestion's API through `ingestion.facts`."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ingestion import facts
from search import image_facts
from search.models import HashVariant
from search.variants import PLAIN
from tests.factories import make_image


def test_search_provides_every_reader() -> None:
    assert facts._readers == {
        "hashes": image_facts.hashes,
        "embeddings": image_facts.embeddings,
        "words": image_facts.words,
    }


def test_an_image_no_reader_knows_gets_the_empty_values(monkeypatch) -> None:
    monkeypatch.setattr(facts, "_readers", {})
    assert facts.of([5]) == {5: facts.EMPTY}


def test_readers_fill_only_the_fields_of_the_contract(monkeypatch) -> None:
    monkeypatch.setattr(
        facts, "_readers", {"x": lambda ids: {i: {"ocr_text": f"w{i}", "secret": 1} for i in ids}}
    )
    assert facts.of([1, 2]) == {i: {**facts.EMPTY, "ocr_text": f"w{i}"} for i in (1, 2)}


@pytest.mark.django_db
def test_a_page_of_images_costs_one_query_per_reader(client, django_user_model) -> None:
    owner = django_user_model.objects.create_user("facts", password="pw-facts-1")
    make_image(owner, "circle")
    with CaptureQueriesContext(connection) as one:
        client.get("/api/images/")
    for kind in ("square", "stripes", "triangle", "circle"):
        make_image(owner, kind)
    with CaptureQueriesContext(connection) as five:
        body = client.get("/api/images/").json()
    assert len(body["results"]) == 5
    assert len(five.captured_queries) == len(one.captured_queries)
    assert {"pdq_hash", "pdq_quality", "embedding_model", "ocr_text"} <= set(body["results"][0])


@pytest.mark.django_db
def test_the_pdq_fields_are_the_plain_variants(django_user_model) -> None:
    owner = django_user_model.objects.create_user("facts", password="pw-facts-1")
    hashed, pending = make_image(owner, "circle"), make_image(owner, "square")
    HashVariant.objects.create(image=hashed, kind="trim", pdq_hash="cd" * 32, quality=90)
    HashVariant.objects.create(image=hashed, kind=PLAIN, pdq_hash="ab" * 32, quality=80)
    found = facts.of([hashed.pk, pending.pk])
    assert (found[hashed.pk]["pdq_hash"], found[hashed.pk]["pdq_quality"]) == ("ab" * 32, 80)
    assert (found[pending.pk]["pdq_hash"], found[pending.pk]["pdq_quality"]) == ("", None)
