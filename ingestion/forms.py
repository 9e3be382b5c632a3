"""Input for images, parsed once for pages and API alike: list filters, upload fields and edits."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from core.errors import BadInput
from core.forms import IdListField, InputForm, MomentField, StrictChoiceField

from .filters import UNKNOWN_OWNER, ImageFilter
from .models import Image

MAX_TAGS = 50
MAX_TAG_CHARS = 64
TAG_RE = re.compile(r"^[\w][\w .:+#&'-]*$")
MAX_TITLE_CHARS = 200


def parse_tags(value: str | Iterable[str] | None) -> list[str]:
    """Accept "a, b" or ["a", "b"]; normalise to lower-case, unique, in order."""
    if value is None:
        return []
    if not isinstance(value, str | list | tuple):
        raise BadInput("tags must be a list of tags or a comma-separated string.")
    parts = value.split(",") if isinstance(value, str) else [p for v in value for p in str(v).split(",")]
    tags: list[str] = []
    for raw in parts:
        tag = " ".join(raw.split()).lower()
        if not tag:
            continue
        if len(tag) > MAX_TAG_CHARS:
            raise BadInput(f"Tag '{tag[:20]}...' is too long; a tag has at most {MAX_TAG_CHARS} characters.")
        if not TAG_RE.match(tag):
            raise BadInput(f"Tag '{tag}' is not allowed: use letters, digits and spaces.")
        if tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise BadInput(f"Too many tags ({len(tags)}); the limit is {MAX_TAGS}.")
    return tags


class TagsInput(forms.Widget):
    """Tags arrive as one comma-separated string, as repeated form fields, or as a JSON list."""

    def value_from_datadict(self, data, files, name):
        if hasattr(data, "getlist"):
            values = data.getlist(name)
            return values if len(values) > 1 else (values[0] if values else None)
        return data.get(name)


class TagsField(forms.Field):
    widget = TagsInput

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> list[str]:
        try:
            return parse_tags(value)
        except BadInput as exc:
            raise forms.ValidationError(str(exc)) from None

    def validate(self, value: Any) -> None:
        if any("\x00" in tag for tag in value):
            raise forms.ValidationError("Null characters are not allowed.")


def visibility_field(**kwargs: Any) -> StrictChoiceField:
    return StrictChoiceField(choices=list(Image.Visibility.values), **kwargs)


def title_field() -> forms.CharField:
    return forms.CharField(required=False, max_length=MAX_TITLE_CHARS, strip=True)


class ImageFilterForm(InputForm):
    """The filters every image listing and every search accepts, parsed into an `ImageFilter`."""

    owner = forms.CharField(required=False, max_length=150, help_text="A username, or 'me'")
    visibility = visibility_field()
    created_after = MomentField()
    created_before = MomentField(end_of_day=True)

    def __init__(self, data, *, user, **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        self.user = user

    def clean_owner(self) -> int | None:
        """The owner's id, UNKNOWN_OWNER for a name nobody has, None for no filter."""
        name = self.cleaned_data["owner"]
        if not name:
            return None
        if name == "me":
            if not self.user.is_authenticated:
                raise forms.ValidationError("owner=me needs you to be signed in.")
            return self.user.pk
        owner = get_user_model().objects.filter(username=name).only("pk").first()
        return owner.pk if owner else UNKNOWN_OWNER

    def image_filter(self) -> ImageFilter:
        """The parsed filters, without a viewer (`ImageFilter.seen_by` adds one)."""
        cleaned = self.cleaned()
        return ImageFilter(
            owner_id=cleaned["owner"],
            visibility=cleaned["visibility"] or None,
            created_after=cleaned["created_after"],
            created_before=cleaned["created_before"],
        )


class ImageListForm(ImageFilterForm):
    """Gallery and `GET /api/images/`: the common filters plus status, tag and ids."""

    status = StrictChoiceField(choices=list(Image.Status.values))
    tag = forms.CharField(required=False, max_length=MAX_TAG_CHARS)
    ids = IdListField()
    # Withheld images: the viewer's own, and for moderators every hidden public one.
    moderation = StrictChoiceField(choices=[Image.Moderation.HIDDEN])

    def image_filter(self) -> ImageFilter:
        cleaned = self.cleaned()
        tag = " ".join(cleaned["tag"].split()).lower()
        return replace(
            super().image_filter(),
            hidden=cleaned["moderation"] == Image.Moderation.HIDDEN,
            status=cleaned["status"] or None,
            tags=(tag,) if tag else (),
            ids=tuple(cleaned["ids"]) if cleaned["ids"] else None,
        )

    def apply(self, images: QuerySet[Image]) -> QuerySet[Image]:
        """`images` filtered (no listing rule: `images` is one already, or the caller's own)."""
        return images.filter(replace(self.image_filter(), hidden=False).as_q())

    def listing(self) -> QuerySet[Image]:
        """The images this list shows its user (the listing rule of `access.listed_images`),
        filtered."""
        images = Image.objects.filter(self.image_filter().seen_by(self.user).as_q())
        return images.select_related("owner").prefetch_related("tags")


class ImageFieldsForm(InputForm):
    """Title, tags and visibility as sent with an upload or an edit."""

    title = title_field()
    tags = TagsField()
    visibility = visibility_field()

    def clean_visibility(self) -> str:
        return self.cleaned_data["visibility"] or Image.Visibility.PUBLIC


class ImageEditForm(ImageFieldsForm):
    """A partial edit: `given()` holds only what the caller sent."""

    def clean_visibility(self) -> str | None:
        return self.cleaned_data["visibility"] or None


class ImageUploadForm(ImageFieldsForm):
    """An upload's fields. `allow_duplicate=false` (the upload page sends it) refuses a file the
    uploader already has, byte for byte, with a 409 naming the existing image; the default keeps the
    API's behaviour of storing every upload."""

    allow_duplicate = StrictChoiceField(choices=["true", "false", "1", "0"])

    def clean_allow_duplicate(self) -> bool:
        return self.cleaned_data["allow_duplicate"] not in ("false", "0")


class UploadPageForm(ImageUploadForm):
    """The upload page's plain form (no JavaScript): its box "Upload even if I already have it"
    sends `allow_duplicate=true`; left unticked, a copy the uploader already has is refused."""

    def clean_allow_duplicate(self) -> bool:
        return self.cleaned_data["allow_duplicate"] in ("true", "1")


SORTS = {"newest": ("-created_at", "-id"), "oldest": ("created_at", "id")}


class GalleryForm(ImageListForm):
    """The gallery's controls: the list filters plus the order."""

    sort = StrictChoiceField(choices=list(SORTS))

    def clean_sort(self) -> str:
        return self.cleaned_data["sort"] or "newest"


BULK_ACTIONS = ["add_tags", "remove_tags", "public", "private", "delete"]


class BulkForm(InputForm):
    """A bulk action on the images picked in the gallery (only the caller's own are touched)."""

    ids = IdListField(required=True)
    action = StrictChoiceField(choices=BULK_ACTIONS, required=True)
    tags = TagsField()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("action") in ("add_tags", "remove_tags") and not cleaned.get("tags"):
            raise forms.ValidationError("Type one or more tags to add or remove.")
        if "ids" in cleaned and not cleaned["ids"]:
            raise forms.ValidationError("Select one or more images first.")
        return cleaned
