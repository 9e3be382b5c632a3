"""Builders for moderation tests: moderators, photo-like uploads run through the real pipeline
with the `image_indexed` signal delivered (its receiver runs the duplicate and ban checks)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group as AuthGroup

from bench.images import encode, photo
from ingestion.access import MODERATORS_GROUP
from tests.factories import index, make_image, make_user


@pytest.fixture
def moderator(db):
    user = make_user("mod")
    user.groups.add(AuthGroup.objects.get_or_create(name=MODERATORS_GROUP)[0])
    return user


@pytest.fixture
def alice(db):
    return make_user("alice")


@pytest.fixture
def upload(django_capture_on_commit_callbacks):
    """upload(owner, data) -> the image, indexed, with moderation's checks run as in the worker."""

    def run(owner, data: bytes, **fields):
        image = make_image(owner, data=data, **fields)
        with django_capture_on_commit_callbacks(execute=True):
            report = index(image)
        assert report.indexed == [image.pk], report.as_dict()
        image.refresh_from_db()
        return image

    return run


def jpeg(seed: int, **options) -> bytes:
    return encode(photo(seed), **options)
