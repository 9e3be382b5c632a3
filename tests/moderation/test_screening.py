"""Ban matches are withheld before anyone else can see them: the very bytes when the upload is
stored, near copies while they are indexed, before their vectors are published."""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from bench.images import encode, photo
from ingestion.models import Image
from moderation.models import Group
from search import index as search_index
from search import variants
from search.engines.vector_store import VectorStoreError
from search.pipeline.indexing import index_images
from search.signals import images_screening
from tests.factories import api_client, make_image, make_user, plain_hash

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_index")]


@pytest.fixture
def banned(alice, moderator, upload):
    """An image of alice's in the `violence` bank, and its picture."""
    picture = photo(31)
    image = upload(alice, encode(picture))
    response = api_client(moderator).post(
        "/api/moderation/bans/",
        {"image": image.pk, "reason": "gore", "category": "violence", "bank": "violence"},
    )
    assert response.status_code == 201, response.json()
    return image, picture


def test_the_same_bytes_are_withheld_as_the_upload_is_stored(banned):
    image, picture = banned
    bob = make_user("bob")
    again = make_image(bob, data=encode(picture))  # stored, not indexed yet
    again.refresh_from_db()
    assert again.status == Image.Status.PENDING
    assert again.moderation == Image.Moderation.HIDDEN and "Violent" in again.moderation_reason
    assert "gore" not in again.moderation_reason  # the internal note stays with moderators
    assert api_client(make_user("carol")).get(f"/api/images/{again.pk}/").status_code == 404
    assert api_client().get("/api/images/").json()["count"] == 0  # alice's own banned one is hidden too
    (group,) = Group.objects.filter(kind=Group.Kind.BANNED)
    assert group.ban_kind == "exact" and list(group.members.values_list("image_id", flat=True)) == [again.pk]


def test_a_near_copy_is_published_already_withheld(banned, upload, monkeypatch):
    _, picture = banned
    published = []
    real_publish = search_index.publish

    def spy(images):
        published.extend((i.pk, i.moderation) for i in images)
        return real_publish(images)

    monkeypatch.setattr(search_index, "publish", spy)
    bob = make_user("bob")
    again = upload(bob, encode(picture.resize((400, 300)), quality=70))
    assert published == [(again.pk, Image.Moderation.HIDDEN)]  # never published as visible
    rows = search_index.variant_store().nearest_many([plain_hash(again).pdq_hash], limit=50, max_distance=256)
    assert again.moderation == Image.Moderation.HIDDEN
    assert Group.objects.filter(kind=Group.Kind.BANNED, members__image=again).count() == 1
    assert rows  # the hashes are in Milvus, but public to nobody


@contextmanager
def screening_raises(error: Exception):
    """A screening receiver that fails with `error`, connected for the block."""

    def failing(sender, ids, **kwargs):
        raise error

    images_screening.connect(failing, sender=Image, dispatch_uid="test-failing")
    try:
        yield
    finally:
        images_screening.disconnect(sender=Image, dispatch_uid="test-failing")


def test_an_unreachable_ban_store_leaves_the_batch_pending(alice):
    image = make_image(alice, data=encode(photo(32)))
    with screening_raises(VectorStoreError("Milvus is unreachable")), pytest.raises(VectorStoreError):
        index_images([image.pk])
    image.refresh_from_db()
    assert image.status == Image.Status.PENDING
    assert not search_index.variant_store().ids() & set(variants.all_row_ids(image.pk))


def test_a_failing_receiver_does_not_stop_indexing(alice):
    image = make_image(alice, data=encode(photo(33)))
    with screening_raises(RuntimeError("a bug in some receiver")):
        assert index_images([image.pk]).indexed == [image.pk]
