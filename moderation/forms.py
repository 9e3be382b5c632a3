"""The input layer of moderation's pages and API (built on `core.forms`: `cleaned()` raises
BadInput with the first problem)."""

from __future__ import annotations

from typing import Any

from django import forms

from core.forms import MAX_ID, BoundedIntegerField, InputForm, StrictChoiceField

from .models import BanCategory, Group

MAX_BULK = 100  # groups per bulk action
MAX_NOTE = 2000


class GroupListForm(InputForm):
    kind = StrictChoiceField(choices=[Group.Kind.DUPLICATE, Group.Kind.BANNED])
    status = StrictChoiceField(choices=[Group.Status.OPEN, Group.Status.RESOLVED])
    order = StrictChoiceField(choices=["newest", "largest"])


class IdsField(forms.Field):
    """A JSON list of ids, or "1,2,3" (form posts): at most `max_ids` database ids."""

    def __init__(self, *, max_ids: int = MAX_BULK, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)
        self.max_ids = max_ids

    def to_python(self, value: Any) -> list[int]:
        if value in (None, ""):
            return []
        parts = value if isinstance(value, list | tuple) else str(value).split(",")
        message = f"{self.label} must be a list of at most {self.max_ids} ids."
        if len(parts) > self.max_ids:
            raise forms.ValidationError(message)
        ids = []
        for part in parts:
            if isinstance(part, bool) or not isinstance(part, int | str):
                raise forms.ValidationError(message)
            text = str(part).strip()
            if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= MAX_ID:
                raise forms.ValidationError(message)
            ids.append(int(text))
        return list(dict.fromkeys(ids))


class NoteField(forms.CharField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(required=False, max_length=MAX_NOTE, strip=True, **kwargs)


class ResolveForm(InputForm):
    keep = IdsField()
    action = StrictChoiceField(choices=["delete", "hide"], required=True)
    note = NoteField()


class DismissForm(InputForm):
    note = NoteField()


class BulkForm(InputForm):
    """Keep each group's suggested image and delete or hide the rest, or dismiss the groups."""

    groups = IdsField(required=True)
    action = StrictChoiceField(choices=["delete", "hide", "dismiss"], required=True)
    note = NoteField()


class BanFieldsForm(InputForm):
    """`category` is public (the owner of a withheld image reads it); `note` (or its older name
    `reason`) is the moderators' internal note. The page's ban form (the image is in its URL)."""

    reason = forms.CharField(required=False, max_length=1000, strip=True)
    note = forms.CharField(required=False, max_length=1000, strip=True)
    bank = forms.CharField(required=False, max_length=64, strip=True)
    category = StrictChoiceField(choices=list(BanCategory.values))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        cleaned["note"] = cleaned.get("note") or cleaned.get("reason") or ""
        cleaned["category"] = cleaned.get("category") or BanCategory.RULES
        return cleaned


class BanForm(BanFieldsForm):
    """The API's ban request: the image by id, and the same fields as the page's form."""

    image = BoundedIntegerField(low=1, high=MAX_ID, required=True)


class ReviewerSettingsForm(InputForm):
    blur = StrictChoiceField(choices=["on", "off"], required=True)


class ReviewRequestForm(InputForm):
    note = NoteField()


MAX_BAN_DISTANCE = 255  # as settings.BAN_PDQ_DISTANCE


class BankForm(InputForm):
    """A bank's switch and its match distance (`null` or empty: the BAN_PDQ_DISTANCE setting);
    either or both."""

    enabled = forms.NullBooleanField(required=False)
    max_distance = BoundedIntegerField(low=0, high=MAX_BAN_DISTANCE)

    def clean_enabled(self) -> bool | None:
        value = self.cleaned_data.get("enabled")
        if value is None and ("enabled" in self.data or "max_distance" not in self.data):
            raise forms.ValidationError("enabled must be true or false.")
        return value


class AuditForm(InputForm):
    limit = BoundedIntegerField(low=1, high=500)
    offset = BoundedIntegerField(low=0, high=10**9)
