"""What the search app announces to the apps above it (they connect in their `AppConfig.ready()`;
search never imports them). Sent after the transaction commits, so receivers find the rows.

- `image_indexed(ids)`: these images were just indexed (hashes and vectors are in the database
  and in Milvus); the moderation app checks them for duplicates and against its ban banks.
"""

from __future__ import annotations

from django.db import transaction
from django.dispatch import Signal

from ingestion.models import Image

image_indexed = Signal()


def announce_indexed(ids: list[int]) -> None:
    ids = list(ids)
    if ids:
        # send_robust: a receiver's failure is logged by Django and never fails the indexing.
        transaction.on_commit(lambda: image_indexed.send_robust(sender=Image, ids=ids))
