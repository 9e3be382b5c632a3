"""The one image filter: every listing (gallery, `GET /api/images/`) and both sides of every search
(the database's keyword side and Milvus's vector side) filter through `ImageFilter`, so a filter is
added here once.

`as_q()` renders the whole filter for the database. `vector_terms()` renders what Milvus can apply
as the keyword arguments of `search.engines.vector_store.SearchFilter` (plain values: ingestion may not
import search, and the vector store imports no app). Milvus keeps beside each vector only the
image's id, owner, upload time in whole seconds and a "listed for everyone" flag
(`search.index.image_row`); whatever it cannot say is the database's alone, and `vector_exact`
says so, so a search filters the vector side's candidates again in the database.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypedDict

from django.db.models import Q

from .access import is_moderator
from .models import Image, listed_q

# No user has this id: an unknown owner name filters to nothing, on the database and in Milvus.
UNKNOWN_OWNER = 0

# A filter on data another app keeps: given the filter's value, the condition on `Image` rows.
Condition = Callable[[Any], Q]


def _no_words_read(wanted: bool) -> Q:
    """`has_text` where no app reads words (a deployment without search): no image has any."""
    return Q(pk__in=[]) if wanted else Q()


# The words read in an image live in search's `OcrRun`, which ingestion may neither import nor
# name by its reverse relation (a join on a table ingestion does not own). So search hands the
# condition down in `SearchConfig.ready()`, as it hands `facts` their readers; Milvus carries no
# such flag, so `has_text` stays the database's alone (`vector_exact`).
_conditions: dict[str, Condition] = {"has_text": _no_words_read}


def provide_condition(name: str, condition: Condition) -> None:
    """Called by the app that keeps the data a filter reads, from its `AppConfig.ready()`."""
    if name not in _conditions:
        raise ValueError(f"No filter '{name}' takes its condition from another app.")
    _conditions[name] = condition


class VectorTerms(TypedDict):
    """`search.engines.vector_store.SearchFilter`'s arguments (a test checks the two agree)."""

    viewer_id: int | None
    owner_id: int | None
    visibility: str | None
    created_after: int | None
    created_before: int | None
    exclude_ids: tuple[int, ...]
    only_ids: tuple[int, ...] | None


@dataclass(frozen=True)
class Viewer:
    """Whose listing: the inputs of the listing rule (`models.listed_q`)."""

    user_id: int | None = None  # None: signed out
    moderator: bool = False

    @classmethod
    def of(cls, user) -> Viewer:
        if user is None or not user.is_authenticated:
            return cls()
        return cls(user.pk, is_moderator(user))


@dataclass(frozen=True)
class ImageFilter:
    """What a listing or a search shows: the viewer's listing rule and every filter, typed.

    Moments are kept in whole seconds (`created_after` from the start of its second,
    `created_before` to the end of its second), as Milvus stores upload times, so both sides
    answer alike."""

    viewer: Viewer | None = None  # None: no listing rule (the queryset filtered is one already)
    hidden: bool = False  # the withheld images the viewer may list instead (`moderation=hidden`)
    owner_id: int | None = None  # UNKNOWN_OWNER: a name nobody has
    visibility: str | None = None  # "public" | "private"
    created_after: datetime | None = None  # inclusive
    created_before: datetime | None = None  # inclusive
    status: str | None = None
    tags: tuple[str, ...] = ()  # every one of them (normalised names, as `forms.parse_tags` makes)
    has_text: bool | None = None  # words were read inside the image (OCR)
    # A suggested label's slug (`search.pipeline.labels`; validated there): the model labelled the image so.
    label: str | None = None
    ids: tuple[int, ...] | None = None  # these images only
    exclude_ids: tuple[int, ...] = ()
    # For the vector side of a `hidden` search: Milvus cannot tell withheld rows from private ones,
    # so it is restricted to these ids, which the database's rule chose (`search.query.service.hidden_ids`).
    withheld_ids: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.visibility is not None and self.visibility not in Image.Visibility.values:
            raise ValueError(f"visibility must be one of {Image.Visibility.values} or None")
        if self.created_after is not None:
            object.__setattr__(self, "created_after", _utc(self.created_after).replace(microsecond=0))
        if self.created_before is not None:
            object.__setattr__(self, "created_before", _utc(self.created_before).replace(microsecond=999999))
        object.__setattr__(self, "tags", tuple(self.tags))
        object.__setattr__(self, "exclude_ids", tuple(self.exclude_ids))

    def seen_by(self, user) -> ImageFilter:
        return replace(self, viewer=Viewer.of(user))

    def excluding(self, ids: tuple[int, ...] | list[int]) -> ImageFilter:
        return replace(self, exclude_ids=(*self.exclude_ids, *ids))

    @property
    def matches_nothing(self) -> bool:
        """Known empty without asking anyone (an unknown owner, no withheld image to search)."""
        return self.owner_id == UNKNOWN_OWNER or (self.hidden and self.withheld_ids == ())

    def as_q(self) -> Q:
        """The database's side: the listing rule (with a viewer) and every filter."""
        q = Q()
        if self.viewer is not None:
            q &= listed_q(self.viewer.user_id, moderator=self.viewer.moderator, hidden=self.hidden)
        for lookup, value in (
            ("owner_id", self.owner_id),
            ("visibility", self.visibility),
            ("created_at__gte", self.created_after),
            ("created_at__lte", self.created_before),
            ("status", self.status),
        ):
            if value is not None:
                q &= Q(**{lookup: value})
        for tag in self.tags:
            # One subquery per tag: a join would need one tag row to carry every name.
            q &= Q(pk__in=Image.tags.through.objects.filter(tag__name=tag).values("image_id"))
        if self.has_text is not None:
            q &= _conditions["has_text"](self.has_text)
        if self.label is not None:
            # By the reverse relation's name: search's table, which ingestion may not import.
            q &= Q(suggested_labels__label=self.label)
        if self.ids is not None:
            q &= Q(pk__in=self.ids)
        if self.exclude_ids:
            q &= ~Q(pk__in=self.exclude_ids)
        return q

    def vector_terms(self) -> VectorTerms:
        """The vector side: the same filter over what Milvus keeps of the indexed images (it holds
        no others), as `SearchFilter`'s arguments. Where Milvus cannot say what the database says,
        its terms keep more rows, never fewer (`vector_exact` is then False)."""
        if self.viewer is None:
            raise ValueError("A vector search needs its viewer: call seen_by(user) first.")
        if self.status not in (None, Image.Status.INDEXED):
            raise ValueError("Milvus holds indexed images only.")
        if self.hidden and self.withheld_ids is None:
            raise ValueError("A search among withheld images needs their ids (withheld_ids).")
        return VectorTerms(
            viewer_id=self.viewer.user_id,
            owner_id=self.owner_id,
            visibility=self.visibility if self._visibility_in_vectors() else None,
            created_after=_epoch(self.created_after),
            created_before=_epoch(self.created_before),
            exclude_ids=self.exclude_ids,
            only_ids=self.withheld_ids if self.hidden else None,
        )

    @property
    def vector_exact(self) -> bool:
        """Whether the vector side selects exactly the rows the database side does (among indexed
        images). Tags, words read, suggested labels and id lists are the database's alone; so is
        visibility, except for a signed-out viewer: Milvus's public flag means "listed for
        everyone", so it cannot tell a viewer's private image from their own public one withheld by
        moderation."""
        if self.tags or self.has_text is not None or self.label is not None or self.ids is not None:
            return False
        signed_out = self.viewer is not None and self.viewer.user_id is None
        return self.visibility is None or (signed_out and not self.hidden)

    def _visibility_in_vectors(self) -> bool:
        """Signed out, `public` is Milvus's public flag exactly (and `private` nothing, on both
        sides); a signed-in viewer's `private` keeps their rows without the flag (their private and
        their withheld public ones). Otherwise the flag says nothing useful: left to the database."""
        if self.hidden or self.viewer is None:
            return False
        return self.viewer.user_id is None or self.visibility == "private"


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _epoch(moment: datetime | None) -> int | None:
    return int(moment.timestamp()) if moment is not None else None
