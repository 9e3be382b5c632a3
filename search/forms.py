"""Search input, parsed once for the search page and the API: the query text, paging, score floor,
sort order and the filters every image listing accepts (`ingestion.forms.ImageFilterForm`)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings

from core.errors import BadInput
from core.forms import MAX_ID, BoundedFloatField, BoundedIntegerField, StrictChoiceField
from ingestion.forms import UNKNOWN_OWNER, ImageFilterForm
from ingestion.validation import check_request_size, validate_upload

from .service import SORTS, SearchParams

MAX_QUERY_CHARS = 1000
MAX_OFFSET = 10_000


class QueryTextField(forms.CharField):
    """Free text with runs of whitespace collapsed; too long is an error, never silently cut."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(required=False, strip=True, **kwargs)

    def to_python(self, value: Any) -> str:
        return " ".join(str(super().to_python(value)).split())

    def validate(self, value: str) -> None:
        super().validate(value)
        if len(value) > MAX_QUERY_CHARS:
            raise forms.ValidationError(
                f"The query is too long; the limit is {MAX_QUERY_CHARS} characters.", code="too_long"
            )


class SearchForm(ImageFilterForm):
    q = QueryTextField()
    limit = BoundedIntegerField(low=1, high=1)  # real bounds come from settings, per request
    offset = BoundedIntegerField(low=0, high=MAX_OFFSET)
    min_score = BoundedFloatField(low=-1.0, high=1.0)
    sort = StrictChoiceField(choices=list(SORTS))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["limit"].high = settings.SEARCH_MAX_LIMIT

    def params(self) -> SearchParams:
        cleaned = self.cleaned()
        owner = cleaned["owner"]
        return SearchParams(
            limit=cleaned["limit"] or settings.SEARCH_DEFAULT_LIMIT,
            offset=cleaned["offset"] or 0,
            min_score=cleaned["min_score"],
            sort=cleaned["sort"] or "relevance",
            owner_id=None if owner in (None, UNKNOWN_OWNER) else owner,
            visibility=cleaned["visibility"] or None,
            created_after=_epoch(cleaned["created_after"]),
            created_before=_epoch(cleaned["created_before"]),
            no_match=owner == UNKNOWN_OWNER,
        )

    def text(self) -> str:
        return self.cleaned()["q"]

    def required_text(self) -> str:
        text = self.text()
        if not text:
            raise BadInput("Type something to search for: the q parameter is empty.")
        return text


class SearchPageForm(SearchForm):
    """The search page also shows the neighbours of one image (`?similar=ID`)."""

    similar = BoundedIntegerField(low=1, high=MAX_ID)


def example_image(request, missing: str) -> bytes:
    """The example image of an image search, validated like an upload; `missing` says where to
    put it when there is none."""
    check_request_size(request)
    upload = request.FILES.get("image")
    if upload is None:
        raise BadInput(missing)
    return validate_upload(upload, upload.name).data


def _epoch(moment) -> int | None:
    return int(moment.timestamp()) if moment is not None else None


def parse_params(data, user) -> SearchParams:
    return SearchForm(data, user=user).params()
