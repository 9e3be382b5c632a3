"""The ban collection is rebuilt from the database like every other one: `reconcile` (through
search's `index_reconciled`) restores lost rows, drops orphans, and fills the collection of a new
row layout, so bans keep matching near copies after Milvus loses data or an upgrade."""

from __future__ import annotations

import pytest

from bench.images import encode, photo
from moderation import bans
from moderation.models import Group
from search import index, variants
from search.engines.vector_store import VectorRow, VectorStore, get_client
from search.pipeline.reconcile import reconcile

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_index")]


def test_reconcile_restores_the_ban_collection_and_bans_match_again(alice, moderator, upload):
    banned = upload(alice, encode(photo(31)))
    entry = bans.ban_image(moderator, banned, "spam")
    rows = set(variants.all_row_ids(entry.pk)) & index.ban_store().ids()
    assert rows
    index.ban_store().drop()
    index.forget_collections()
    orphan = variants.row_id(entry.pk + 1000, "plain")
    index.ban_store().upsert([VectorRow(orphan, variants.pdq_vector("00" * 32), 1, True, 0)])

    report = reconcile()

    assert (report.bans_restored, report.ban_orphans_deleted) == (len(rows), 1)
    assert index.ban_store().ids() == rows
    again = upload(alice, encode(photo(31).resize((320, 240))))  # a near copy, not the same bytes
    assert Group.objects.filter(kind=Group.Kind.BANNED, ban=entry, members__image=again).exists()


def test_reconcile_drops_the_collections_of_the_earlier_row_layout(alice):
    for name in variants.EARLIER_COLLECTIONS:
        VectorStore(name, variants.PDQ_BITS, metric="IP").ensure_collection()
    reconcile()
    for name in variants.EARLIER_COLLECTIONS:
        assert name not in set(get_client().list_collections())
