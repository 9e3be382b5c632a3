"""The input layer's building blocks (`core.forms`), on small throwaway forms: what each field
accepts, what it refuses, and the words every page and API endpoint then shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django import forms
from django.http import QueryDict

from core.errors import BadInput
from core.forms import (
    MAX_ID,
    BoundedFloatField,
    BoundedIntegerField,
    IdListField,
    InputForm,
    MomentField,
    StrictChoiceField,
    choice_message,
)


class WhenForm(InputForm):
    start = MomentField()
    end = MomentField(end_of_day=True)


class NumbersForm(InputForm):
    count = BoundedIntegerField(low=1, high=10)
    score = BoundedFloatField(low=-1.0, high=1.0)


class IdsForm(InputForm):
    ids = IdListField()


class ChoiceForm(InputForm):
    color = StrictChoiceField(choices=["red", "green"])
    size = StrictChoiceField(choices=["s", "m", "l"])


class TextForm(InputForm):
    title = forms.CharField(required=False, max_length=5)
    name = forms.CharField(required=True)
    note = forms.CharField(required=False)

    def clean_note(self) -> str:
        note = self.cleaned_data["note"]
        if note == "name-first":
            raise forms.ValidationError("note is not allowed to say that.", code="invalid")
        if note == "custom":
            raise forms.ValidationError("Pick another note.", code="custom")
        return note


def error_of(form_class, data: dict, **kwargs) -> str:
    with pytest.raises(BadInput) as caught:
        form_class(data, **kwargs).cleaned()
    return str(caught.value)


# ---------------------------------------------------------------------------- MomentField


def test_a_bare_date_is_the_start_or_the_end_of_that_day_in_utc() -> None:
    cleaned = WhenForm({"start": "2024-03-01", "end": "2024-03-02"}).cleaned()
    assert cleaned["start"] == datetime(2024, 3, 1, tzinfo=UTC)
    assert cleaned["start"].utcoffset() == timedelta(0)
    assert cleaned["end"] == datetime(2024, 3, 2, 23, 59, 59, 999999, tzinfo=UTC)
    assert cleaned["end"].utcoffset() == timedelta(0)


def test_iso_date_times_keep_their_offset_and_naive_ones_are_utc() -> None:
    cleaned = WhenForm({"start": "2024-03-01T10:30:00+02:00", "end": " 2024-03-01T10:30:00 "}).cleaned()
    assert cleaned["start"] == datetime(2024, 3, 1, 8, 30, tzinfo=UTC)
    assert cleaned["start"].utcoffset() == timedelta(hours=2)
    # A date-time is an instant: end_of_day applies to bare dates only.
    assert cleaned["end"] == datetime(2024, 3, 1, 10, 30, tzinfo=UTC)
    assert cleaned["end"].tzinfo is UTC


def test_z_suffix_and_negative_offsets() -> None:
    cleaned = WhenForm({"start": "2024-03-01T00:00:00Z", "end": "2024-02-29T23:00:00-05:00"}).cleaned()
    assert cleaned["start"] == datetime(2024, 3, 1, tzinfo=UTC)
    assert cleaned["end"] == datetime(2024, 3, 1, 4, 0, tzinfo=UTC)
    assert cleaned["end"].utcoffset() == timedelta(hours=-5)


def test_empty_moments_are_no_filter() -> None:
    assert WhenForm({"start": "", "end": "   "}).cleaned() == {"start": None, "end": None}
    assert WhenForm({}).cleaned() == {"start": None, "end": None}


@pytest.mark.parametrize(
    "value",
    [
        "2024-02-30",  # no such day
        "2023-02-29",  # not a leap year
        "2024-13-01",  # month 13
        "2024-00-10",
        "2024-02-30T10:00:00",
        "2024-03-01T25:00:00",
        "2024-03-01T10:00:00+25:00",  # no such offset
        "last week",
        "01/03/2024",
        "2024-03",
    ],
)
def test_impossible_or_unreadable_moments_are_refused_naming_the_field(value: str) -> None:
    message = error_of(WhenForm, {"start": value})
    assert message == "start must be a date (YYYY-MM-DD) or an ISO 8601 date-time."


def test_the_message_names_the_field_that_failed() -> None:
    assert error_of(WhenForm, {"end": "2024-13-01"}).startswith("end must be a date")


@pytest.mark.parametrize("value", ["9999-12-31T23:00:00-05:00", "0001-01-01T00:30:00+01:00"])
def test_moments_no_database_can_store_are_refused(value: str) -> None:
    """Converted to UTC (as a database stores them) these fall outside year 1..9999."""
    message = error_of(WhenForm, {"start": value})
    assert message == "start is out of range: use a date between 0001-01-01 and 9999-12-31."


def test_the_extreme_dates_themselves_are_accepted() -> None:
    cleaned = WhenForm({"start": "0001-01-01", "end": "9999-12-31"}).cleaned()
    assert cleaned["start"] == datetime(1, 1, 1, tzinfo=UTC)
    assert cleaned["end"] == datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


# ---------------------------------------------------------------------------- numbers


def test_bounded_integers_within_the_range() -> None:
    assert NumbersForm({"count": "1"}).cleaned()["count"] == 1
    assert NumbersForm({"count": " 10 "}).cleaned()["count"] == 10
    assert NumbersForm({"count": ""}).cleaned()["count"] is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "count must be between 1 and 10."),
        ("11", "count must be between 1 and 10."),
        ("-3", "count must be between 1 and 10."),
        ("1.0", "count must be a whole number."),
        ("ten", "count must be a whole number."),
        ("1e3", "count must be a whole number."),
        ("9" * 5000, "count must be a whole number."),  # beyond Python's int() digit limit
    ],
)
def test_bounded_integers_refused(value: str, message: str) -> None:
    assert error_of(NumbersForm, {"count": value}) == message


def test_bounded_floats_within_the_range() -> None:
    assert NumbersForm({"score": "-1"}).cleaned()["score"] == -1.0
    assert NumbersForm({"score": "0.25"}).cleaned()["score"] == 0.25
    assert NumbersForm({"score": "1"}).cleaned()["score"] == 1.0
    assert NumbersForm({"score": ""}).cleaned()["score"] is None


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "Infinity", "1e309", "1.0001", "-2", "high"])
def test_bounded_floats_refuse_nan_infinities_and_out_of_range(value: str) -> None:
    assert error_of(NumbersForm, {"score": value}) == "score must be a number between -1 and 1."


# ---------------------------------------------------------------------------- ids


def test_id_lists_are_parsed_and_empty_parts_skipped() -> None:
    assert IdsForm({"ids": "1,,2"}).cleaned()["ids"] == [1, 2]
    assert IdsForm({"ids": " 3 , 4 ,"}).cleaned()["ids"] == [3, 4]
    assert IdsForm({"ids": ""}).cleaned()["ids"] == []
    assert IdsForm({"ids": str(MAX_ID)}).cleaned()["ids"] == [2**63 - 1]


def test_two_hundred_ids_are_fine() -> None:
    ids = ",".join(str(i) for i in range(1, 201))
    assert IdsForm({"ids": ids}).cleaned()["ids"] == list(range(1, 201))


@pytest.mark.parametrize(
    "value",
    [
        ",".join(str(i) for i in range(1, 202)),  # 201 ids
        "1,a",
        "-1",
        "1.5",
        "0",
        "1,0",
        str(2**63),
        "99999999999999999999999",
        "\u0661",  # ARABIC-INDIC DIGIT ONE: a digit, but not ASCII
        "+5",
    ],
)
def test_bad_id_lists_are_refused(value: str) -> None:
    assert error_of(IdsForm, {"ids": value}) == "ids must be a comma-separated list of at most 200 image ids."


def test_nul_in_an_id_list_is_refused_with_the_field_name() -> None:
    assert error_of(IdsForm, {"ids": "1\x00"}) == "ids: Null characters are not allowed."


# ---------------------------------------------------------------------------- choices


def test_choices_accept_their_values_and_nothing() -> None:
    assert ChoiceForm({"color": "green", "size": "m"}).cleaned() == {"color": "green", "size": "m"}
    assert ChoiceForm({}).cleaned() == {"color": "", "size": ""}


def test_an_unknown_choice_names_the_allowed_values() -> None:
    assert error_of(ChoiceForm, {"color": "blue"}) == "color must be 'red' or 'green'."
    assert error_of(ChoiceForm, {"size": "xl"}) == "size must be one of: s, m, l."
    assert error_of(ChoiceForm, {"color": "Red"}) == "color must be 'red' or 'green'."  # exact values


def test_choice_message() -> None:
    assert choice_message("sort", ["relevance", "date"]) == "sort must be 'relevance' or 'date'."
    assert choice_message("x", ["a"]) == "x must be one of: a."


# ---------------------------------------------------------------------------- InputForm


def test_generic_django_messages_are_prefixed_with_the_field_name() -> None:
    assert error_of(TextForm, {"name": "n", "title": "a\x00b"}) == "title: Null characters are not allowed."
    assert error_of(TextForm, {"name": "n", "title": "toolong"}) == (
        "title: Ensure this value has at most 5 characters (it has 7)."
    )
    assert error_of(TextForm, {}) == "name: This field is required."


def test_messages_that_already_name_the_field_are_not_prefixed_again() -> None:
    assert error_of(TextForm, {"name": "n", "note": "name-first"}) == "note is not allowed to say that."
    assert error_of(WhenForm, {"start": "2024-13-01"}).startswith("start must")


def test_project_messages_are_shown_as_they_are() -> None:
    assert error_of(TextForm, {"name": "n", "note": "custom"}) == "Pick another note."
    assert error_of(NumbersForm, {"count": "99"}) == "count must be between 1 and 10."


def test_the_first_field_in_order_is_reported() -> None:
    assert error_of(NumbersForm, {"count": "0", "score": "9"}) == "count must be between 1 and 10."


def test_cleaned_raises_bad_input_a_400() -> None:
    with pytest.raises(BadInput) as caught:
        NumbersForm({"count": "x"}).cleaned()
    assert caught.value.status_code == 400
    assert caught.value.public_message == "count must be a whole number."


def test_first_error_of_a_valid_form() -> None:
    form = NumbersForm({"count": "2"})
    assert form.is_valid()
    assert form.first_error() == "Invalid request."


def test_given_returns_only_the_fields_sent() -> None:
    assert TextForm({"name": "n", "title": " hi "}).given() == {"name": "n", "title": "hi"}
    assert NumbersForm({"score": "0.5"}).given() == {"score": 0.5}
    assert NumbersForm({}).given() == {}
    assert IdsForm(QueryDict("ids=1,2&other=x")).given() == {"ids": [1, 2]}


def test_given_still_refuses_bad_input() -> None:
    with pytest.raises(BadInput):
        NumbersForm({"count": "0"}).given()


def test_labels_default_to_the_parameter_name_per_form_instance() -> None:
    form = NumbersForm({})
    assert form.fields["count"].label == "count"
    assert NumbersForm.base_fields["count"].label is None  # the class's field is not changed
