"""Image input (`ingestion.forms`): tags, the list filters applied to real rows, uploads and edits."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import QueryDict

from core.errors import BadInput
from ingestion.forms import (
    MAX_TAGS,
    UNKNOWN_OWNER,
    ImageEditForm,
    ImageFieldsForm,
    ImageListForm,
    parse_tags,
)
from ingestion.models import Image
from tests.factories import make_image, make_user

# ---------------------------------------------------------------------------- parse_tags


def test_tags_from_a_string_are_normalised_unique_and_in_order() -> None:
    assert parse_tags("Red, shapes ,red, ,  Big   Dog ") == ["red", "shapes", "big dog"]


def test_tags_from_a_list_may_hold_commas_too() -> None:
    assert parse_tags(["Cat", "a, b", "CAT"]) == ["cat", "a", "b"]
    assert parse_tags(("x",)) == ["x"]


def test_no_tags() -> None:
    assert parse_tags(None) == []
    assert parse_tags("") == []
    assert parse_tags(" , ,") == []
    assert parse_tags([]) == []


def test_tags_keep_letters_of_any_script_and_the_allowed_punctuation() -> None:
    assert parse_tags("Café, c++, Rock & Roll, 3:2, it's, 1-a") == [
        "café",
        "c++",
        "rock & roll",
        "3:2",
        "it's",
        "1-a",
    ]


@pytest.mark.parametrize("value", [5, {"a": 1}, 1.5, b"cat"])
def test_tags_of_another_type_are_refused(value) -> None:
    with pytest.raises(BadInput, match="tags must be a list of tags or a comma-separated string."):
        parse_tags(value)


def test_fifty_tags_are_fine_fifty_one_are_too_many() -> None:
    assert len(parse_tags([f"t{i}" for i in range(MAX_TAGS)])) == 50
    with pytest.raises(BadInput) as caught:
        parse_tags([f"t{i}" for i in range(MAX_TAGS + 1)])
    assert str(caught.value) == "Too many tags (51); the limit is 50."


def test_duplicates_do_not_count_towards_the_limit() -> None:
    assert len(parse_tags([f"t{i}" for i in range(MAX_TAGS)] + ["T0", " t1 "])) == 50


def test_a_64_character_tag_is_fine() -> None:
    assert parse_tags("a" * 64) == ["a" * 64]


@pytest.mark.parametrize("tag", ["a" * 65, "/" * 65, "a b" * 30])
def test_a_tag_over_64_characters_is_too_long_whatever_it_holds(tag: str) -> None:
    with pytest.raises(BadInput) as caught:
        parse_tags(tag)
    message = str(caught.value)
    assert "is too long; a tag has at most 64 characters." in message
    assert "not allowed" not in message


@pytest.mark.parametrize("tag", ["a/b", "<script>", "-dash-first", "#1", "semi;colon", "a\x00", "\x00"])
def test_tags_with_other_characters_are_refused(tag: str) -> None:
    with pytest.raises(BadInput, match="is not allowed: use letters, digits and spaces."):
        parse_tags(tag)


# ---------------------------------------------------------------------------- upload and edit fields


def test_upload_fields_default_to_public_and_parse_tags() -> None:
    cleaned = ImageFieldsForm({"title": "  Hi  ", "tags": "B, a"}).cleaned()
    assert cleaned == {"title": "Hi", "tags": ["b", "a"], "visibility": "public"}


def test_tags_as_repeated_form_fields() -> None:
    data = QueryDict("tags=One&tags=two,Three&visibility=private")
    assert ImageFieldsForm(data).cleaned()["tags"] == ["one", "two", "three"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"title": "x" * 201}, "title: Ensure this value has at most 200 characters (it has 201)."),
        ({"title": "a\x00"}, "title: Null characters are not allowed."),
        ({"visibility": "friends"}, "visibility must be 'public' or 'private'."),
        ({"tags": "ok, a/b"}, "Tag 'a/b' is not allowed: use letters, digits and spaces."),
    ],
)
def test_bad_upload_fields(data: dict, message: str) -> None:
    with pytest.raises(BadInput) as caught:
        ImageFieldsForm(data).cleaned()
    assert str(caught.value) == message


def test_an_edit_holds_only_what_was_sent() -> None:
    assert ImageEditForm({"visibility": "private"}).given() == {"visibility": "private"}
    assert ImageEditForm({"tags": []}).given() == {"tags": []}  # clears the tags
    assert ImageEditForm({"title": ""}).given() == {"title": ""}
    assert ImageEditForm({}).given() == {}


# ---------------------------------------------------------------------------- list filters on real rows


@pytest.fixture
def people():
    return make_user("alice"), make_user("bob")


@pytest.fixture
def rows(people) -> dict[str, Image]:
    alice, bob = people
    made = {
        "a_public": make_image(
            alice, "circle", tags=["red", "round"], created_at=datetime(2024, 3, 1, 0, 0, tzinfo=UTC)
        ),
        "a_private": make_image(
            alice,
            "square",
            tags=["red"],
            visibility="private",
            created_at=datetime(2024, 3, 2, 23, 59, 59, tzinfo=UTC),
        ),
        "b_public": make_image(
            bob, "triangle", tags=["blue"], created_at=datetime(2024, 3, 3, 0, 0, tzinfo=UTC)
        ),
        "b_private": make_image(
            bob, "stripes", visibility="private", created_at=datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC)
        ),
    }
    Image.objects.filter(pk=made["b_public"].pk).update(status=Image.Status.INDEXED)
    Image.objects.filter(pk=made["b_private"].pk).update(status=Image.Status.FAILED)
    return made


def listed(rows: dict[str, Image], data: dict, user=None) -> set[str]:
    names = {image.pk: name for name, image in rows.items()}
    found = ImageListForm(data, user=user or AnonymousUser()).apply(Image.objects.all())
    return {names[pk] for pk in found.values_list("pk", flat=True)}


@pytest.mark.django_db
def test_no_filter_lists_everything_given(rows) -> None:
    assert listed(rows, {}) == set(rows)


@pytest.mark.django_db
def test_owner_by_name_by_me_and_unknown(rows, people) -> None:
    alice, bob = people
    assert listed(rows, {"owner": "alice"}) == {"a_public", "a_private"}
    assert listed(rows, {"owner": "bob"}) == {"b_public", "b_private"}
    assert listed(rows, {"owner": "me"}, alice) == {"a_public", "a_private"}
    assert listed(rows, {"owner": "me"}, bob) == {"b_public", "b_private"}
    assert listed(rows, {"owner": "nobody"}) == set()
    assert listed(rows, {"owner": "Alice"}) == set()  # usernames are exact


@pytest.mark.django_db
def test_an_unknown_owner_is_the_id_no_user_has(rows) -> None:
    form = ImageListForm({"owner": "nobody"}, user=AnonymousUser())
    assert form.cleaned()["owner"] == UNKNOWN_OWNER


@pytest.mark.django_db
def test_owner_me_signed_out_is_bad_input(rows) -> None:
    with pytest.raises(BadInput) as caught:
        ImageListForm({"owner": "me"}, user=AnonymousUser()).apply(Image.objects.all())
    assert str(caught.value) == "owner=me needs you to be signed in."
    assert caught.value.status_code == 400


@pytest.mark.django_db
def test_status_and_visibility(rows) -> None:
    assert listed(rows, {"status": "pending"}) == {"a_public", "a_private"}
    assert listed(rows, {"status": "indexed"}) == {"b_public"}
    assert listed(rows, {"status": "failed"}) == {"b_private"}
    assert listed(rows, {"visibility": "private"}) == {"a_private", "b_private"}
    assert listed(rows, {"visibility": "public", "owner": "bob"}) == {"b_public"}


@pytest.mark.django_db
def test_tag_is_matched_normalised(rows) -> None:
    assert listed(rows, {"tag": "red"}) == {"a_public", "a_private"}
    assert listed(rows, {"tag": "  RED "}) == {"a_public", "a_private"}
    assert listed(rows, {"tag": "round"}) == {"a_public"}
    assert listed(rows, {"tag": "green"}) == set()


@pytest.mark.django_db
def test_dates_are_whole_days(rows) -> None:
    assert listed(rows, {"created_after": "2024-03-01"}) == {"a_public", "a_private", "b_public"}
    assert listed(rows, {"created_before": "2024-03-02"}) == {"a_public", "a_private", "b_private"}
    assert listed(rows, {"created_after": "2024-03-02", "created_before": "2024-03-02"}) == {"a_private"}
    assert listed(rows, {"created_before": "2024-02-29"}) == {"b_private"}
    assert listed(rows, {"created_after": "2024-03-04"}) == set()


@pytest.mark.django_db
def test_date_times_are_instants(rows) -> None:
    assert listed(rows, {"created_after": "2024-03-01T00:00:01Z"}) == {"a_private", "b_public"}
    # 2024-03-03T01:00+02:00 is 2024-03-02T23:00Z: before the last minute of the 2nd.
    assert listed(rows, {"created_before": "2024-03-03T01:00:00+02:00"}) == {"a_public", "b_private"}


@pytest.mark.django_db
def test_ids(rows) -> None:
    wanted = f"{rows['a_public'].pk},{rows['b_private'].pk},{2**63 - 1}"
    assert listed(rows, {"ids": wanted}) == {"a_public", "b_private"}
    assert listed(rows, {"ids": f"{rows['b_public'].pk}", "owner": "alice"}) == set()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"status": "done"}, "status must be one of: pending, indexed, failed."),
        ({"tag": "x" * 65}, "tag: Ensure this value has at most 64 characters (it has 65)."),
        ({"tag": "\x00"}, "tag: Null characters are not allowed."),
        ({"ids": "1,x"}, "ids must be a comma-separated list of at most 200 image ids."),
        (
            {"created_after": "2024-02-30"},
            "created_after must be a date (YYYY-MM-DD) or an ISO 8601 date-time.",
        ),
        ({"owner": "a" * 151}, "owner: Ensure this value has at most 150 characters (it has 151)."),
    ],
)
def test_bad_filters(rows, data: dict, message: str) -> None:
    with pytest.raises(BadInput) as caught:
        ImageListForm(data, user=AnonymousUser()).apply(Image.objects.all())
    assert str(caught.value) == message
