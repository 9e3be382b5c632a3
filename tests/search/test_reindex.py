"""reindex: every image is encoded again with the configured model and lands in its collection."""

from __future__ import annotations

from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command

from ingestion.models import Image
from search.engines.encoder import get_encoder
from search.index import embedding_store
from search.models import ModelEmbedding
from tests.factories import index, make_image, make_user, model_of, vector_of

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_index")]


def test_inline_reindex_re_encodes_everything_including_failed_and_pending() -> None:
    owner = make_user()
    indexed = make_image(owner, "circle")
    index(indexed)
    pending = make_image(owner, "square")
    # A vector from another model only: the image is encoded again with the active one.
    ModelEmbedding.objects.filter(image=indexed).update(model_id="old-model")

    out = StringIO()
    call_command("reindex", inline=True, batch_size=1, stdout=out)

    assert "Re-indexed 2 image(s); 0 failed." in out.getvalue()
    encoder = get_encoder()
    for image in (indexed, pending):
        image.refresh_from_db()
        assert image.status == Image.Status.INDEXED
        assert model_of(image) == encoder.model_id
        np.testing.assert_allclose(vector_of(image), encoder.encode_images([_decoded(image)])[0], atol=1e-5)
    assert embedding_store(encoder.model_id, encoder.dim).ids() == {indexed.pk, pending.pk}


def test_only_pending_leaves_indexed_images_alone() -> None:
    owner = make_user()
    done = make_image(owner, "circle")
    index(done)
    before = done.indexed_at
    todo = make_image(owner, "stripes")

    out = StringIO()
    call_command("reindex", inline=True, only_pending=True, stdout=out)

    assert "Re-indexed 1 image(s)" in out.getvalue()
    done.refresh_from_db()
    todo.refresh_from_db()
    assert done.indexed_at == before
    assert todo.status == Image.Status.INDEXED


def _decoded(image: Image):
    from ingestion.processing import decode
    from ingestion.storage import read_file

    return decode(read_file(image.original.name))
