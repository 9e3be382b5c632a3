"""What the search app announces to the apps above it (they connect in their `AppConfig.ready()`;
search never imports them).

- `images_screening(ids)`: sent synchronously while these images are indexed, after their hashes
  and vectors are in the database and before they are published to Milvus: the moderation app
  withholds ban matches here, so nobody else ever finds them. A receiver's 503 (Milvus or the
  database unreachable) fails the batch, which stays pending and is retried; any other failure is
  logged by Django's `send_robust` and indexing goes on.
- `image_indexed(ids)`: these images were just indexed (hashes and vectors are in the database
  and in Milvus), sent after the transaction commits; the moderation app links duplicates.
- `index_reconciled(report)`: `reconcile` brought search's collections in line with the database;
  the moderation app does the same for the ban collection, which it owns.
"""

from __future__ import annotations

from django.db import transaction
from django.dispatch import Signal

from core.errors import ServiceUnavailable
from ingestion.models import Image

images_screening = Signal()
image_indexed = Signal()
index_reconciled = Signal()


def screen(ids: list[int]) -> None:
    for _receiver, outcome in images_screening.send_robust(sender=Image, ids=list(ids)):
        if isinstance(outcome, ServiceUnavailable):
            raise outcome


def announce_indexed(ids: list[int]) -> None:
    ids = list(ids)
    if ids:
        # send_robust: a receiver's failure is logged by Django and never fails the indexing.
        transaction.on_commit(lambda: image_indexed.send_robust(sender=Image, ids=ids))
