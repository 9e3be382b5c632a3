"""Who may see and change an image (`ingestion.access.get_image_for_user`): the one check pages,
API and media share."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext

from core.errors import Forbidden
from ingestion.access import get_image_for_user, visible_images
from tests.factories import make_image, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def bob():
    return make_user("bob")


@pytest.fixture
def staff():
    return make_user("staff", is_staff=True, is_superuser=True)


@pytest.fixture
def public(alice):
    return make_image(alice, "circle")


@pytest.fixture
def private(alice):
    return make_image(alice, "square", visibility="private")


def test_a_public_image_is_visible_to_everyone(public, alice, bob, staff) -> None:
    for user in (AnonymousUser(), alice, bob, staff, None):
        assert get_image_for_user(user, public.pk) == public


def test_a_private_image_is_visible_to_its_owner_only(private, alice, bob, staff) -> None:
    assert get_image_for_user(alice, private.pk) == private
    for user in (AnonymousUser(), bob, staff, None):
        with pytest.raises(Http404):
            get_image_for_user(user, private.pk)


def test_others_private_images_look_like_missing_ones(private, bob) -> None:
    with pytest.raises(Http404) as hidden:
        get_image_for_user(bob, private.pk)
    with pytest.raises(Http404) as missing:
        get_image_for_user(bob, private.pk + 1000)
    assert str(hidden.value) == str(missing.value) == "No such image."


def test_only_the_owner_may_change_a_public_image(public, alice, bob) -> None:
    assert get_image_for_user(alice, public.pk, write=True) == public
    with pytest.raises(Forbidden) as caught:
        get_image_for_user(bob, public.pk, write=True)
    assert str(caught.value) == "Only the owner can change this image."
    assert caught.value.status_code == 403
    with pytest.raises(Forbidden, match="Only the owner can delete this image."):
        get_image_for_user(bob, public.pk, write=True, action="delete")


def test_signed_out_visitors_may_not_change_anything(public) -> None:
    with pytest.raises(Forbidden):
        get_image_for_user(AnonymousUser(), public.pk, write=True)


def test_the_owner_may_change_a_private_image(private, alice) -> None:
    assert get_image_for_user(alice, private.pk, write=True) == private


def test_staff_may_change_a_public_image_but_not_see_a_private_one(public, private, staff) -> None:
    assert public.editable_by(staff)
    assert get_image_for_user(staff, public.pk, write=True) == public
    # Private means private, to staff too: not even confirmed to exist.
    with pytest.raises(Http404):
        get_image_for_user(staff, private.pk, write=True)


@pytest.mark.parametrize("pk", [0, -1, 2**63, 10**23])
def test_ids_no_database_stores_are_404_without_a_query(pk: int, alice, django_assert_num_queries) -> None:
    with django_assert_num_queries(0), pytest.raises(Http404):
        get_image_for_user(alice, pk)


def test_the_largest_storable_id_is_looked_up(alice) -> None:
    with CaptureQueriesContext(connection) as queries, pytest.raises(Http404):
        get_image_for_user(alice, 2**63 - 1)
    assert any("ingestion_image" in query["sql"] for query in queries.captured_queries)


def test_visible_images_lists_public_and_own(public, private, alice, bob) -> None:
    assert set(visible_images(alice)) == {public, private}
    assert set(visible_images(bob)) == {public}
    assert set(visible_images(AnonymousUser())) == {public}
