"""A ban keeps its own copy of the banned image's vector (the active model's, from
`search.ModelEmbedding`), and the semantic tier matches other images' active vectors against it."""

from __future__ import annotations

import numpy as np
import pytest

from bench.images import encode, photo
from moderation import ban_matching, bans
from moderation.models import BanEntry, Link
from search.models import ModelEmbedding
from tests.factories import give_vector, vector_of

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_index")]


def test_a_ban_copies_the_active_vector_and_the_semantic_tier_matches_it(settings, alice, moderator, upload):
    banned = upload(alice, encode(photo(1), "PNG"))
    other = upload(alice, encode(photo(2), "PNG"))  # unrelated pixels: no hash meets the ban's
    # A vector of a model switched away from must not be the one copied.
    ModelEmbedding.objects.create(image=banned, model_id="demo-64", vector=np.ones(64, np.float32).tobytes())

    entry = bans.ban_image(moderator, banned, "spam")

    assert entry.embedding_model == "demo"
    np.testing.assert_array_equal(entry.embedding_vector(), vector_of(banned))

    settings.DUPLICATE_SEMANTIC = "on"  # the demo model's scores mean nothing, but the tier runs
    give_vector(other, vector_of(banned))  # the same picture, as far as the model can tell
    hits = ban_matching.ban_hits([other], BanEntry.objects.filter(pk=entry.pk))
    assert (hits[other.pk].entry.pk, hits[other.pk].kind) == (entry.pk, Link.Kind.CLIP)
