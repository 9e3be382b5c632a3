"""Search input (`search.forms`): one parser for the search page and the API."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from django.contrib.auth.models import AnonymousUser

from core.errors import BadInput
from ingestion.filters import UNKNOWN_OWNER
from search.forms import SearchForm
from search.query.queries import QueryVector
from search.query.service import SearchParams, run_search
from tests.factories import make_user


@pytest.fixture(autouse=True)
def search_limits(settings) -> None:
    """The limits the messages below name, whatever the environment says."""
    settings.SEARCH_MAX_LIMIT = 200
    settings.SEARCH_DEFAULT_LIMIT = 50


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": "0"}, "limit must be between 1 and 200."),
        ({"limit": "201"}, "limit must be between 1 and 200."),
        ({"limit": "ten"}, "limit must be a whole number."),
        ({"offset": "-1"}, "offset must be between 0 and 10000."),
        ({"min_score": "1.5"}, "min_score must be a number between -1 and 1."),
        ({"min_score": "high"}, "min_score must be a number between -1 and 1."),
        ({"min_score": "nan"}, "min_score must be a number between -1 and 1."),
        ({"sort": "random"}, "sort must be 'relevance' or 'date'."),
        ({"visibility": "friends"}, "visibility must be 'public' or 'private'."),
        ({"created_after": "last week"}, "created_after must be a date (YYYY-MM-DD) or an ISO 8601"),
        ({"created_after": "2024-13-45"}, "created_after must be a date"),
        ({"created_before": "2024-02-30T10:00:00"}, "created_before must be a date"),
        ({"owner": "me"}, "owner=me needs you to be signed in."),
    ],
)
def test_bad_parameters_say_what_is_wrong(params: dict, message: str) -> None:
    with pytest.raises(BadInput) as caught:
        SearchForm(params, user=AnonymousUser()).params()
    assert message in str(caught.value)


def test_defaults(settings) -> None:
    params = SearchForm({}, user=AnonymousUser()).params()
    assert params == SearchParams(limit=settings.SEARCH_DEFAULT_LIMIT)
    assert params.sort == "relevance" and params.min_score is None and not params.no_match


def test_dates_are_whole_days_or_instants() -> None:
    params = SearchForm(
        {"created_after": "2024-03-01", "created_before": "2024-03-02", "limit": "5", "min_score": "0.25"},
        user=AnonymousUser(),
    ).params()
    assert params.filters.created_after == datetime(2024, 3, 1, tzinfo=UTC)
    # A bare end date includes that whole day.
    assert params.filters.created_before == datetime(2024, 3, 2, 23, 59, 59, 999999, tzinfo=UTC)
    assert (params.limit, params.min_score) == (5, 0.25)
    instant = SearchForm({"created_after": "2024-03-01T10:00:00+02:00"}, user=AnonymousUser()).params()
    assert instant.filters.created_after == datetime(2024, 3, 1, 8, tzinfo=UTC)
    naive = SearchForm({"created_before": "2024-03-01T10:00:00"}, user=AnonymousUser()).params()
    # Whole seconds, as Milvus keeps upload times: the end of that second.
    assert naive.filters.created_before == datetime(2024, 3, 1, 10, 0, 0, 999999, tzinfo=UTC)


@pytest.mark.django_db
def test_owner_by_name_or_me() -> None:
    alice = make_user("alice")
    assert SearchForm({"owner": "alice"}, user=AnonymousUser()).params().filters.owner_id == alice.pk
    assert SearchForm({"owner": "me"}, user=alice).params().filters.owner_id == alice.pk
    unknown = SearchForm({"owner": "nobody"}, user=alice).params()
    assert unknown.no_match and unknown.filters.owner_id == UNKNOWN_OWNER
    # Nothing to ask Milvus: no collection, no vector, no error.
    assert run_search(QueryVector("no-such-model", np.ones(4, dtype=np.float32)), alice, unknown) == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"q": "x" * 1001}, "The query is too long; the limit is 1000 characters."),
        ({"q": "cat\x00"}, "q: Null characters are not allowed."),
        ({"owner": "a\x00"}, "owner: Null characters are not allowed."),
        ({"limit": "99999999999999999999999"}, "limit must be between 1 and 200."),
        ({"min_score": "inf"}, "min_score must be a number between -1 and 1."),
    ],
)
def test_hostile_values_are_plain_400s(params: dict, message: str) -> None:
    with pytest.raises(BadInput) as caught:
        SearchForm(params, user=AnonymousUser()).text()
    assert str(caught.value) == message


def test_query_text_is_collapsed_never_cut() -> None:
    form = SearchForm({"q": "  a   red\n bicycle  "}, user=AnonymousUser())
    assert form.text() == "a red bicycle"
    with pytest.raises(BadInput, match="empty"):
        SearchForm({"q": "   "}, user=AnonymousUser()).required_text()


def test_mode_filters_and_collapse() -> None:
    data = {"mode": "text", "tags": "Beach, sunset", "has_text": "yes", "collapse": "false"}
    params = SearchForm(data, user=AnonymousUser()).params()
    assert (params.mode, params.filters.tags, params.filters.has_text, params.collapse) == (
        "text",
        ("beach", "sunset"),
        True,
        False,
    )
    assert not params.filters.vector_exact  # tags and words read are the database's alone
    default = SearchForm({}, user=AnonymousUser()).params()
    assert (default.mode, default.filters.tags, default.filters.has_text, default.collapse) == (
        "hybrid",
        (),
        None,
        True,
    )
    assert SearchForm({"has_text": "0"}, user=AnonymousUser()).params().filters.has_text is False


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"mode": "bm25"}, "mode must be one of: hybrid, semantic, text."),
        ({"has_text": "maybe"}, "has_text must be 'true' or 'false'."),
        ({"collapse": "2"}, "collapse must be 'true' or 'false'."),
        ({"tags": "<script>"}, "Tag '<script>' is not allowed"),
        ({"more": "1,x"}, "more must be a comma-separated list of at most 16 image ids."),
        ({"less": ",".join(["1"] * 17)}, "less must be a comma-separated list of at most 16 image ids."),
    ],
)
def test_bad_new_parameters_say_what_is_wrong(params: dict, message: str) -> None:
    with pytest.raises(BadInput) as caught:
        SearchForm(params, user=AnonymousUser()).params()
    assert message in str(caught.value)


def test_the_query_is_parsed_with_feedback_terms() -> None:
    form = SearchForm({"q": "2:beach - people", "more": "4,5", "less": "6"}, user=AnonymousUser())
    assert str(form.query()) == "2:beach - people + image:4 + image:5 - image:6"
    assert str(SearchForm({"more": "4"}, user=AnonymousUser()).query()) == "image:4"
    with pytest.raises(BadInput, match="at least one term without"):
        SearchForm({"less": "4"}, user=AnonymousUser()).query()
    with pytest.raises(BadInput, match="the q parameter is empty"):
        SearchForm({}, user=AnonymousUser()).query()
    # With an uploaded example, words are optional and may all push away.
    assert SearchForm({}, user=AnonymousUser()).query(example=True) is None
    assert str(SearchForm({"q": "- night"}, user=AnonymousUser()).query(example=True)) == "- night"
    too_many = {"q": " + ".join(["a"] * 10), "more": ",".join(str(i) for i in range(1, 8))}
    with pytest.raises(BadInput, match="at most 16"):
        SearchForm(too_many, user=AnonymousUser()).query()
