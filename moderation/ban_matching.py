"""Ban enforcement: uploads (and, retroactively, stored images) matched against the enabled banks
by the one copy judgement (`search.query.copies`), each bank at its own distance; a match is withheld
and queued as a `banned` group beside the banned content."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.db import transaction

from ingestion.models import Image
from search import index
from search.pipeline import switching
from search.query import copies

from . import audit, withholding
from .models import BanEntry, Bank, Group, GroupMember, Hold, Link

_RANK = {Link.Kind.EXACT: 0, Link.Kind.PDQ: 1, Link.Kind.CLIP: 2}
_BAN_CHUNK = 2000


@dataclass(frozen=True)
class BanHit:
    entry: BanEntry
    kind: str
    distance: int | None
    score: float | None
    variant: str = ""  # which hashes met: "sha256", "mirror~plain", "clip"


def ban_hits(images: list[Image], entries=None) -> dict[int, BanHit]:
    """The best match of each image against the enabled banks (or only `entries`, a queryset of
    ban entries: a new ban matched retroactively), if any."""
    best: dict[int, BanHit] = {}

    def offer(image_id: int, hit: BanHit) -> None:
        current = best.get(image_id)
        if current is None or (_RANK[hit.kind], hit.distance or 0) < (
            _RANK[current.kind],
            current.distance or 0,
        ):
            best[image_id] = hit

    enabled = BanEntry.objects.filter(bank__enabled=True).select_related("bank")
    if entries is not None:
        enabled = enabled.filter(pk__in=entries.values("pk"))
    by_sha: dict[str, list[int]] = {}
    for image in images:
        by_sha.setdefault(image.sha256, []).append(image.pk)
    for entry in enabled.filter(sha256__in=list(by_sha)):
        for image_id in by_sha[entry.sha256]:
            offer(image_id, BanHit(entry, Link.Kind.EXACT, 0, 1.0, "sha256"))

    queries = {i.pk: q for i in images if (q := copies.query_hashes(i))}
    # One search out to the widest bank's distance; each hit then meets its own bank's.
    radius = max((b.match_distance() for b in Bank.objects.filter(enabled=True)), default=None)
    matches = (
        copies.variant_matches(index.ban_store(), queries, radius)
        if radius is not None and queries
        else {}
    )
    entry_ids = {m.owner_id for hits in matches.values() for m in hits}
    found = {e.pk: e for e in enabled.filter(pk__in=entry_ids)}  # drops disabled banks
    for image_id, hits in matches.items():
        for m in hits:
            if m.owner_id in found and m.distance <= found[m.owner_id].bank.match_distance():
                offer(image_id, BanHit(found[m.owner_id], Link.Kind.PDQ, m.distance, None, m.variant))

    if copies.semantic_enabled():
        _semantic_ban_hits(images, enabled, offer)
    # An image a moderator banned is not a match of its own ban.
    return {i: h for i, h in best.items() if h.entry.image_id != i}


def _semantic_ban_hits(images: list[Image], enabled, offer) -> None:
    model_id, stored = switching.active_vectors([image.pk for image in images])
    entries = enabled.filter(embedding_model=model_id).exclude(embedding=None)
    for image in images:
        vector = stored.get(image.pk)
        if vector is None:
            continue
        for start in range(0, entries.count(), _BAN_CHUNK):
            chunk = list(entries.order_by("pk")[start : start + _BAN_CHUNK])
            nearest = copies.closest_vector(vector, np.stack([e.embedding_vector() for e in chunk]))
            if nearest is not None:
                row, score = nearest
                offer(image.pk, BanHit(chunk[row], Link.Kind.CLIP, None, score, "clip"))


def already_judged(entry: BanEntry, image_id: int) -> bool:
    """A moderator decided this pair once (kept, or "not a match"): a rescan never asks again."""
    return Group.objects.filter(kind=Group.Kind.BANNED, ban=entry, members__image_id=image_id).exists()


def withhold(image: Image, hit: BanHit) -> Group:
    """Hide a ban match and queue it as a `banned` group for moderators. The owner reads the
    entry's public category, never its internal note."""
    with transaction.atomic():
        group = Group.objects.create(
            kind=Group.Kind.BANNED,
            ban=hit.entry,
            ban_kind=hit.kind,
            ban_distance=hit.distance,
            ban_score=hit.score,
            ban_variant=hit.variant,
            size=1,
        )
        GroupMember.objects.create(group=group, image_id=image.pk)
        withholding.hold(
            image, Hold.Cause.BAN, withholding.match_reason(hit.entry), ban=hit.entry, group=group
        )
        audit.record(
            None,
            "auto_hide",
            f"image {image.pk}",
            f"matched ban {hit.entry.pk} in {hit.entry.bank.name} "
            f"({hit.kind}, distance {hit.distance}, {hit.variant or 'no variant'})",
        )
    return group


def apply_bans(images: list[Image], entries=None) -> list[Group]:
    """Hide every image that matches an enabled ban (or one of `entries`) and queue it as a
    `banned` group, unless a moderator already judged that pair."""
    by_id = {image.pk: image for image in images}
    return [
        withhold(by_id[image_id], hit)
        for image_id, hit in ban_hits(images, entries).items()
        if not already_judged(hit.entry, image_id)
    ]


def withhold_exact_copy(image: Image) -> Group | None:
    """The moment an upload is stored: the very bytes of banned content are withheld before the
    upload's transaction commits, so nobody else ever sees them (near copies wait for indexing)."""
    entry = (
        BanEntry.objects.filter(bank__enabled=True, sha256=image.sha256)
        .exclude(image_id=image.pk)
        .select_related("bank")
        .first()
    )
    if entry is None or not image.sha256:
        return None
    return withhold(image, BanHit(entry, Link.Kind.EXACT, 0, 1.0, "sha256"))
