"""Images hashed before the newest stored variants existed (the 15% and 20% side cuts) get them:
each original is decoded again for its hashes only (no model, no thumbnails), its variants
replaced, screened against the bans, published, and checked for copies. `reconcile` finds such
images and the ingest worker does the work, a batch a task, so an upgrade catches up in the
background without re-encoding anything."""

from __future__ import annotations

import logging

from ingestion.models import Image
from ingestion.processing import decode_keeping_alpha, flatten, pdq_variants, working_copy
from ingestion.storage import read_file

from .. import index
from ..signals import announce_indexed, screen
from ..variants import NEWEST_KIND
from . import chains
from .indexing import replace_variants

log = logging.getLogger(__name__)

BATCH = 64
TASK = "search.tasks.rehash_images"
CHAIN_KEY = "imagesearch:rehash-chain"  # while set, a chain is queued or running (search.pipeline.chains)


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
    """Queue a chain of rehash tasks unless none is needed or one is under way."""
    return bool(next_batch()) and chains.start(TASK, CHAIN_KEY)


def run_batch() -> dict:
    """One link of the chain: a batch, then the next link while images remain."""
    done = rehash(next_batch())
    remaining = len(outdated_ids())
    chains.follow(TASK, CHAIN_KEY, progressed=bool(done), remaining=remaining)
    return {"rehashed": len(done), "remaining": remaining}
