"""Search input, parsed once for the search page and the API: the query (in the query language of
`search.query.query_language`), the mode, paging, score floor, sort order, the filters every image listing
accepts (`ingestion.forms.ImageFilterForm`) plus tags and "has text", duplicate collapsing, and
relevance feedback (`more` / `less`: image ids added as `+ image:ID` / `- image:ID` terms)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from django import forms
from django.conf import settings

from core.errors import BadInput
from core.forms import MAX_ID, BoundedFloatField, BoundedIntegerField, IdListField, StrictChoiceField
from ingestion.forms import ImageFilterForm, TagsField
from ingestion.validation import check_request_size, read_limited, reduce_query_image

from .engines.encoder.families import normalise_query
from .pipeline import labels
from .query.query_language import MAX_TERMS, Query, Term, parse
from .query.service import MODES, SORTS, SearchParams, hidden_ids

BOOLEANS = {
    "true": True,
    "1": True,
    "yes": True,
    "on": True,
    "false": False,
    "0": False,
    "no": False,
    "off": False,
}

MAX_QUERY_CHARS = 1000
MAX_OFFSET = 10_000


class QueryTextField(forms.CharField):
    """Free text in NFKC with runs of whitespace collapsed (full-width "ｃａｔ　２" is "cat 2");
    more than MAX_QUERY_CHARS is an error. What the model cannot read of a shorter query is cut
    on the query worker and said in the results (`service.query_notes`)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(required=False, strip=True, **kwargs)

    def to_python(self, value: Any) -> str:
        return normalise_query(str(super().to_python(value)))

    def validate(self, value: str) -> None:
        super().validate(value)
        if len(value) > MAX_QUERY_CHARS:
            raise forms.ValidationError(
                f"The query is too long; the limit is {MAX_QUERY_CHARS} characters.", code="too_long"
            )


class BooleanChoiceField(forms.Field):
    """true/false (also 1/0, yes/no, on/off); empty means "no filter" (None)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> bool | None:
        raw = str(value if value is not None else "").strip().lower()
        if not raw:
            return None
        if raw not in BOOLEANS:
            raise forms.ValidationError(f"{self.label} must be 'true' or 'false'.", code="invalid")
        return BOOLEANS[raw]


class SearchForm(ImageFilterForm):
    q = QueryTextField()
    mode = StrictChoiceField(choices=list(MODES))
    limit = BoundedIntegerField(low=1, high=1)  # real bounds come from settings, per request
    offset = BoundedIntegerField(low=0, high=MAX_OFFSET)
    min_score = BoundedFloatField(low=-1.0, high=1.0)
    sort = StrictChoiceField(choices=list(SORTS))
    tags = TagsField()
    has_text = BooleanChoiceField()
    label = forms.CharField(required=False, max_length=labels.MAX_SLUG_CHARS)  # a suggested label's slug
    collapse = BooleanChoiceField()
    # Withheld images instead: the viewer's own, and for moderators every hidden public one.
    moderation = StrictChoiceField(choices=["hidden"])
    more = IdListField(max_ids=MAX_TERMS)  # relevance feedback: "more like these images"
    less = IdListField(max_ids=MAX_TERMS)  # and "less like these"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["limit"].high = settings.SEARCH_MAX_LIMIT

    def clean_label(self) -> str | None:
        value = self.cleaned_data["label"]
        try:
            return labels.check_filter(value) if value.strip() else None
        except BadInput as exc:
            raise forms.ValidationError(str(exc), code="label") from None

    def params(self) -> SearchParams:
        cleaned = self.cleaned()
        hidden = cleaned["moderation"] == "hidden"
        filters = replace(
            self.image_filter(),
            tags=tuple(cleaned["tags"] or ()),
            has_text=cleaned["has_text"],
            label=cleaned["label"],
            hidden=hidden,
            withheld_ids=hidden_ids(self.user) if hidden else None,
        )
        return SearchParams(
            limit=cleaned["limit"] or settings.SEARCH_DEFAULT_LIMIT,
            offset=cleaned["offset"] or 0,
            min_score=cleaned["min_score"],
            sort=cleaned["sort"] or "relevance",
            mode=cleaned["mode"] or "hybrid",
            collapse=cleaned["collapse"] is not False,
            filters=filters,
        )

    def text(self) -> str:
        return self.cleaned()["q"]

    def required_text(self) -> str:
        text = self.text()
        if not text:
            raise BadInput("Type something to search for: the q parameter is empty.")
        return text

    def feedback_terms(self) -> list[Term]:
        cleaned = self.cleaned()
        return [Term(image_id=i) for i in cleaned["more"] or []] + [
            Term(image_id=i, negative=True) for i in cleaned["less"] or []
        ]

    def query(self, *, example: bool = False, text: str | None = None) -> Query | None:
        """`q` parsed, with the feedback terms added. With an uploaded `example` image the words
        are optional (None when there are none) and may all be negative."""
        text = self.text() if text is None else text
        extra = self.feedback_terms()
        if not text and not extra:
            if not example:
                raise BadInput("Type something to search for: the q parameter is empty.")
            return None
        terms = (*parse(text, positive_elsewhere=True).terms, *extra) if text else tuple(extra)
        if len(terms) > MAX_TERMS:
            raise BadInput(f"Too many terms; a query has at most {MAX_TERMS}.")
        if not example and all(t.negative for t in terms):
            raise BadInput("A query needs at least one term without '-': say what to look for.")
        return Query(terms)


class SearchPageForm(SearchForm):
    """The search page also shows the neighbours of one image (`?similar=ID`)."""

    similar = BoundedIntegerField(low=1, high=MAX_ID)


def example_image(request, missing: str) -> bytes:
    """The example image of an image search, decoded at a bounded size and reduced (what the query
    worker gets); `missing` says where to put it when there is none."""
    check_request_size(request)
    upload = request.FILES.get("image")
    if upload is None:
        raise BadInput(missing)
    return reduce_query_image(read_limited(upload, settings.MAX_UPLOAD_BYTES), upload.name)
