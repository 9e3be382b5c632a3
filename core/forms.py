"""The input layer's building blocks: every page and API endpoint parses its input with a form built
from these, so the same input gets the same answer (and the same words) everywhere."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from django import forms
from django.utils.dateparse import parse_date, parse_datetime

from .errors import BadInput

# The largest primary key any supported database stores; larger numbers are refused as input
# instead of overflowing inside the database driver.
MAX_ID = 2**63 - 1
_GENERIC_CODES = {"null_characters_not_allowed", "max_length", "min_length", "required", "invalid"}


class InputForm(forms.Form):
    """A form for input that is parsed, not rendered: `cleaned()` returns the values or raises
    BadInput with the first problem in plain words (prefixed with the field's name)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            field.label = field.label or name  # messages name the parameter as the caller wrote it

    def cleaned(self) -> dict[str, Any]:
        if not self.is_valid():
            raise BadInput(self.first_error())
        return self.cleaned_data

    def given(self) -> dict[str, Any]:
        """Only the cleaned values the caller actually sent (for partial updates)."""
        cleaned = self.cleaned()
        return {name: value for name, value in cleaned.items() if name in self.data}

    def first_error(self) -> str:
        for name, errors in self.errors.as_data().items():
            error = errors[0]
            message = error.messages[0]
            # Django's own messages ("Null characters are not allowed.") do not say which parameter.
            if error.code in _GENERIC_CODES and not message.startswith(name):
                return f"{name}: {message}"
            return message
        return "Invalid request."


class MomentField(forms.Field):
    """A bare date (the whole day, UTC) or an ISO 8601 date-time; naive times are UTC.

    `end_of_day` makes a bare date mean its last instant, so `created_before=2024-03-02`
    includes that day. The one date parser of the project."""

    def __init__(self, *, end_of_day: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)
        self.end_of_day = end_of_day

    def to_python(self, value: Any) -> datetime | None:
        raw = str(value or "").strip()
        if not raw:
            return None
        try:
            # The date first: parse_datetime would read a bare date as midnight, losing end_of_day.
            day = parse_date(raw)
            moment = None if day else parse_datetime(raw)
        except ValueError:  # well formed but impossible, e.g. month 13
            day = moment = None
        if day is not None:
            moment = datetime.combine(day, time.max if self.end_of_day else time.min)
        if moment is None:
            raise forms.ValidationError(
                f"{self.label} must be a date (YYYY-MM-DD) or an ISO 8601 date-time.", code="invalid"
            )
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        # Databases store UTC: near year 1 or 9999 an offset pushes the instant out of datetime's
        # range, which overflowed inside the database driver (a 500) instead of being refused here.
        try:
            moment.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError(
                f"{self.label} is out of range: use a date between 0001-01-01 and 9999-12-31.",
                code="out_of_range",
            ) from None
        return moment


class BoundedIntegerField(forms.Field):
    """A whole number within [low, high], with one message naming the range."""

    def __init__(self, *, low: int, high: int, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)
        self.low, self.high = low, high

    def to_python(self, value: Any) -> int | None:
        raw = str(value if value is not None else "").strip()
        if not raw:
            return None
        try:
            number = int(raw)
        except ValueError:
            raise forms.ValidationError(f"{self.label} must be a whole number.", code="invalid") from None
        if not self.low <= number <= self.high:
            raise forms.ValidationError(
                f"{self.label} must be between {self.low} and {self.high}.", code="out_of_range"
            )
        return number


class BoundedFloatField(forms.Field):
    """A finite number within [low, high]; NaN and infinities are refused like any other bad value."""

    def __init__(self, *, low: float, high: float, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)
        self.low, self.high = low, high

    def to_python(self, value: Any) -> float | None:
        raw = str(value if value is not None else "").strip()
        if not raw:
            return None
        message = f"{self.label} must be a number between {self.low:g} and {self.high:g}."
        try:
            number = float(raw)
        except ValueError:
            raise forms.ValidationError(message, code="invalid") from None
        if not self.low <= number <= self.high:  # also false for NaN
            raise forms.ValidationError(message, code="out_of_range")
        return number


class IdListField(forms.CharField):
    """ "1,2,3" -> [1, 2, 3]: at most `max_ids` positive ids that a database can store."""

    def __init__(self, *, max_ids: int = 200, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)
        self.max_ids = max_ids

    def clean(self, value: Any) -> list[int]:
        raw = super().clean(value)
        message = f"{self.label} must be a comma-separated list of at most {self.max_ids} image ids."
        parts = [p.strip() for p in raw.split(",") if p.strip()]
        if len(parts) > self.max_ids or not all(p.isascii() and p.isdigit() for p in parts):
            raise forms.ValidationError(message)
        ids = [int(p) for p in parts]
        if any(not 0 < i <= MAX_ID for i in ids):
            raise forms.ValidationError(message)
        return ids


def choice_message(label: str, choices: list[str]) -> str:
    if len(choices) == 2:
        return f"{label} must be '{choices[0]}' or '{choices[1]}'."
    return f"{label} must be one of: {', '.join(choices)}."


class StrictChoiceField(forms.ChoiceField):
    """A choice given as its plain value; an unknown value names the allowed ones."""

    def __init__(self, *, choices: list[str], **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(choices=[(c, c) for c in choices], **kwargs)
        self.values = list(choices)

    def validate(self, value: Any) -> None:
        if value in self.empty_values:
            super().validate(value)
            return
        if value not in self.values:
            raise forms.ValidationError(choice_message(self.label, self.values), code="invalid_choice")
