"""Images hashed before the newest stored variants existed (the 15% and 20% side cuts) get them:
each original is decoded again for its hashes only (no model, no thumbnails), its variants
replaced, screened against the bans, published, and checked for copies. `reconcile` finds such
images and the ingest worker does the work, a batch a task, so an upgrade catches up in the
background without re-encoding anything."""

from __future__ import annotations

import logging

import redis
from celery import current_app

from ingestion.models import Image
from ingestion.processing import decode_keeping_alpha, flatten, pdq_variants, working_copy
from ingestion.storage import read_file

from .. import index
from ..signals import announce_indexed, screen
from ..variants import NEWEST_KIND
from .indexing import replace_variants
from .worker_status import redis_client

log = logging.getLogger(__name__)

BATCH = 64
TASK = "search.tasks.rehash_images"
# While set, a chain of rehash tasks is queued or running; each batch keeps it alive, so a chain
# lost with a worker is started again by a later `reconcile` once the mark expires.
CHAIN_KEY = "imagesearch:rehash-chain"
CHAIN_SECONDS = 900


def outdated_ids() -> list[int]:
    """Indexed images without the newest stored kind: hashed by an earlier version."""
    current = Image.objects.filter(status=Image.Status.INDEXED, hash_variants__kind=NEWEST_KIND)
    outdated = Image.objects.filter(status=Image.Status.INDEXED).exclude(pk__in=current.values("pk"))
    return list(outdated.order_by("pk").values_list("pk", flat=True))


def _hash_again(image: Image) -> bool:
    try:
        picture = working_copy(flatten(decode_keeping_alpha(read_file(image.original.name))))
    except FileNotFoundError:
        log.warning("Image %s: the stored original is missing; its hashes stay as they are", image.pk)
        return False
    except Exception:  # a file that decoded once and no longer does: keep what it has
        log.warning("Image %s could not be decoded again for its hashes", image.pk, exc_info=True)
        return False
    replace_variants(image.pk, pdq_variants(picture))
    return True


def rehash(ids: list[int]) -> list[int]:
    """Hash these images again (those still indexed); returns the ids done. Raises
    VectorStoreError when Milvus cannot take the rows (the task retries; the database already
    holds the hashes, so `reconcile` would publish them anyway)."""
    indexed = Image.objects.filter(pk__in=ids, status=Image.Status.INDEXED)
    done = [image.pk for image in indexed if _hash_again(image)]
    if not done:
        return []
    screen(done)  # a ban matched through a new variant is withheld before it is published again
    index.publish(list(Image.objects.filter(pk__in=done)))
    announce_indexed(done)  # the copy checks, with the new variants
    return done


def next_batch() -> list[int]:
    return outdated_ids()[:BATCH]


def start_chain() -> bool:
    """Queue the first task of a chain unless one is already under way; False when nothing was
    queued (none needed, one running, or Redis down: the next `reconcile` tries again)."""
    if not next_batch():
        return False
    try:
        if not redis_client().set(CHAIN_KEY, "queued", nx=True, ex=CHAIN_SECONDS):
            return False
        current_app.send_task(TASK, retry=False)  # by name: the task module imports this one
    except (redis.RedisError, OSError) as exc:
        log.warning("Could not queue rehashing (%s); the next reconcile tries again", exc)
        return False
    return True


def run_batch() -> dict:
    """One link of the chain: a batch, then the next link while images remain."""
    done = rehash(next_batch())
    remaining = len(outdated_ids())
    client = redis_client()
    if done and remaining:
        client.set(CHAIN_KEY, "running", ex=CHAIN_SECONDS)
        current_app.send_task(TASK, retry=False)
    else:  # finished, or nothing in this batch could be hashed again: reconcile decides later
        client.delete(CHAIN_KEY)
    return {"rehashed": len(done), "remaining": remaining}
