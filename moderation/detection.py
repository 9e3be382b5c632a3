"""Finding near-duplicates and ban matches, three tiers, thresholds in settings:

- exact: the same sha256;
- perceptual: PDQ hashes of each image's variants (turns and flips, trimmed borders, central
  crops; `ingestion.processing.pdq_variants`) searched in Milvus in batches, within
  MODERATION_PDQ_DISTANCE; hashes weaker than PDQ_MIN_QUALITY never link;
- semantic: CLIP cosine >= NEAR_DUPLICATE_SCORE, off with the random-weight demo model.

New links join the groups of their images (connected components, kept incrementally); links
moderators dismissed or resolved never come back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from ingestion.models import Image
from search import index

from . import audit, withholding
from .models import BanEntry, Bank, Group, GroupMember, Hold, Link

log = logging.getLogger(__name__)

DEMO_MODEL = "demo"
_RANK = {Link.Kind.EXACT: 0, Link.Kind.PDQ: 1, Link.Kind.CLIP: 2}
_NEIGHBOURS = 20  # matches kept per query hash; groups are transitive, so a big cluster still joins


def semantic_enabled() -> bool:
    """A random-weight model cannot judge near-duplicates: its links would be noise."""
    return settings.MODERATION_SEMANTIC and settings.CLIP_MODEL != DEMO_MODEL


def semantic_off_reason() -> str:
    if not settings.MODERATION_SEMANTIC:
        return "The semantic (CLIP) tier is turned off (MODERATION_SEMANTIC=0)."
    if settings.CLIP_MODEL == DEMO_MODEL:
        return (
            "The semantic (CLIP) tier is off: the demo model has random weights and cannot judge "
            "near-duplicates. Exact and PDQ matches still work."
        )
    return ""


@dataclass(frozen=True)
class Candidate:
    a: int
    b: int
    kind: str
    pdq_distance: int | None = None
    score: float | None = None
    variant: str = ""

    def better_than(self, other: Candidate) -> bool:
        return (_RANK[self.kind], self.pdq_distance or 0) < (_RANK[other.kind], other.pdq_distance or 0)


def _pair(x: int, y: int) -> tuple[int, int]:
    return (x, y) if x < y else (y, x)


def query_hashes(image: Image) -> list[tuple[str, str]]:
    """Every strong variant of `image`, as (kind, hex) queries."""
    return [(v.kind, v.pdq_hash) for v in image.hash_variants.all() if v.quality >= settings.PDQ_MIN_QUALITY]


def find_candidates(images: list[Image]) -> list[Candidate]:
    """Links from these images to any other indexed image (all users), in a few batched queries."""
    found: dict[tuple[int, int], Candidate] = {}

    def offer(candidate: Candidate) -> None:
        key = (candidate.a, candidate.b)
        if key not in found or candidate.better_than(found[key]):
            found[key] = candidate

    ids = {i.pk for i in images}
    by_sha: dict[str, list[int]] = {}
    for image in images:
        by_sha.setdefault(image.sha256, []).append(image.pk)
    twins = Image.objects.filter(sha256__in=list(by_sha), status=Image.Status.INDEXED)
    for other_id, sha in twins.values_list("pk", "sha256"):
        for image_id in by_sha[sha]:
            if image_id != other_id:
                offer(Candidate(*_pair(image_id, other_id), Link.Kind.EXACT, 0, 1.0, "sha256"))

    queries = {i.pk: query_hashes(i) for i in images}
    matches = index.variant_matches(
        index.variant_store(),
        {k: q for k, q in queries.items() if q},
        settings.MODERATION_PDQ_DISTANCE,
        limit=_NEIGHBOURS,
    )
    for image_id, hits in matches.items():
        for m in hits:
            if m.owner_id != image_id:
                offer(
                    Candidate(
                        *_pair(image_id, m.owner_id),
                        Link.Kind.PDQ,
                        m.distance,
                        None,
                        f"{m.query_kind}~{m.stored_kind}",
                    )
                )

    if semantic_enabled():
        for candidate in _semantic_candidates(images):
            offer(candidate)

    # Only images that still exist and are indexed (a hit may be a row deleted a moment ago).
    others = {c.a for c in found.values()} | {c.b for c in found.values()}
    alive = set(
        Image.objects.filter(pk__in=others | ids, status=Image.Status.INDEXED).values_list("pk", flat=True)
    )
    return [c for c in found.values() if c.a in alive and c.b in alive]


def _semantic_candidates(images: list[Image]) -> Iterable[Candidate]:
    by_model: dict[tuple[str, int], list[tuple[int, np.ndarray]]] = {}
    for image in images:
        vector = image.embedding_vector()
        if vector is not None and image.embedding_model:
            by_model.setdefault((image.embedding_model, len(vector)), []).append((image.pk, vector))
    for (model_id, dim), rows in by_model.items():
        store = index.embedding_store(model_id, dim)
        results = store.search_many(
            np.stack([v for _, v in rows]), limit=_NEIGHBOURS, min_score=settings.NEAR_DUPLICATE_SCORE
        )
        for (image_id, _), hits in zip(rows, results, strict=True):
            for hit in hits:
                if hit.id != image_id:
                    yield Candidate(
                        *_pair(image_id, hit.id), Link.Kind.CLIP, None, round(hit.score, 4), "clip"
                    )


# ---------------------------------------------------------------------------- links and groups


def save_links(candidates: list[Candidate]) -> list[Link]:
    """Store new links and improve open ones; dismissed and resolved links are left as they are.
    Returns the open links touched."""
    if not candidates:
        return []
    existing = {
        (link.a_id, link.b_id): link
        for link in Link.objects.filter(
            a_id__in={c.a for c in candidates}, b_id__in={c.b for c in candidates}
        )
    }
    touched = []
    for c in candidates:
        link = existing.get((c.a, c.b))
        if link is None:
            link = Link.objects.create(
                a_id=c.a, b_id=c.b, kind=c.kind, pdq_distance=c.pdq_distance, score=c.score, variant=c.variant
            )
            existing[(c.a, c.b)] = link
        elif link.state == Link.State.OPEN and c.better_than(
            Candidate(link.a_id, link.b_id, link.kind, link.pdq_distance)
        ):
            link.kind, link.pdq_distance, link.score, link.variant = (
                c.kind,
                c.pdq_distance,
                c.score,
                c.variant,
            )
            link.save(update_fields=["kind", "pdq_distance", "score", "variant"])
        if link.state == Link.State.OPEN:
            touched.append(link)
    return touched


def open_group_of(image_id: int) -> Group | None:
    member = (
        GroupMember.objects.filter(
            image_id=image_id, group__kind=Group.Kind.DUPLICATE, group__status=Group.Status.OPEN
        )
        .select_related("group")
        .first()
    )
    return member.group if member else None


def _refresh_size(group: Group) -> None:
    group.size = group.members.count()
    group.updated_at = timezone.now()
    group.save(update_fields=["size", "updated_at"])


def join(a: int, b: int) -> Group:
    """Put a and b in one open duplicate group: a new one, the one either is in, or both merged."""
    ga, gb = open_group_of(a), open_group_of(b)
    if ga is None and gb is None:
        group = Group.objects.create(kind=Group.Kind.DUPLICATE)
        GroupMember.objects.bulk_create(
            [GroupMember(group=group, image_id=a), GroupMember(group=group, image_id=b)]
        )
    elif gb is None or ga == gb:
        group = ga
        GroupMember.objects.get_or_create(group=group, image_id=b)
    elif ga is None:
        group = gb
        GroupMember.objects.get_or_create(group=group, image_id=a)
    else:  # merge the smaller into the larger
        group, other = (ga, gb) if ga.size >= gb.size else (gb, ga)
        moving = set(other.members.values_list("image_id", flat=True)) - set(
            group.members.values_list("image_id", flat=True)
        )
        GroupMember.objects.bulk_create([GroupMember(group=group, image_id=i) for i in moving])
        other.delete()
    _refresh_size(group)
    return group


def without_ban_incidents(candidates: list[Candidate]) -> list[Candidate]:
    """One incident makes one group. An image judged against a ban entry (a `banned` group, open
    or decided) is already shown beside the banned content there; a duplicate link to the entry's
    source image, or to another upload judged against the same entry, would queue the same
    incident again. Such pairs are dropped before they are stored, so a rescan does not bring
    them back; links to any other image stay."""
    ids = {c.a for c in candidates} | {c.b for c in candidates}
    if not ids:
        return candidates
    incidents: dict[int, set[int]] = {}
    judged = GroupMember.objects.filter(
        image_id__in=ids, group__kind=Group.Kind.BANNED, group__ban__isnull=False
    ).values_list("image_id", "group__ban_id")
    sources = BanEntry.objects.filter(image_id__in=ids).values_list("image_id", "pk")
    for image_id, entry_id in [*judged, *sources]:
        incidents.setdefault(image_id, set()).add(entry_id)
    if not incidents:
        return candidates
    return [c for c in candidates if not incidents.get(c.a, set()) & incidents.get(c.b, set())]


def group_links(links: list[Link]) -> None:
    with transaction.atomic():
        for link in links:
            join(link.a_id, link.b_id)


# ---------------------------------------------------------------------------- bans


@dataclass(frozen=True)
class BanHit:
    entry: BanEntry
    kind: str
    distance: int | None
    score: float | None
    variant: str = ""  # which hashes met: "sha256", "mirror~plain", "clip"


def ban_hits(images: list[Image]) -> dict[int, BanHit]:
    """The best match of each image against the enabled banks, if any."""
    best: dict[int, BanHit] = {}

    def offer(image_id: int, hit: BanHit) -> None:
        current = best.get(image_id)
        if current is None or (_RANK[hit.kind], hit.distance or 0) < (
            _RANK[current.kind],
            current.distance or 0,
        ):
            best[image_id] = hit

    enabled = BanEntry.objects.filter(bank__enabled=True).select_related("bank")
    by_sha: dict[str, list[int]] = {}
    for image in images:
        by_sha.setdefault(image.sha256, []).append(image.pk)
    for entry in enabled.filter(sha256__in=list(by_sha)):
        for image_id in by_sha[entry.sha256]:
            offer(image_id, BanHit(entry, Link.Kind.EXACT, 0, 1.0, "sha256"))

    queries = {i.pk: q for i in images if (q := query_hashes(i))}
    # One search out to the widest bank's distance; each hit then meets its own bank's.
    radius = max((b.match_distance() for b in Bank.objects.filter(enabled=True)), default=None)
    matches = (
        index.variant_matches(index.ban_store(), queries, radius, limit=_NEIGHBOURS)
        if radius is not None and queries
        else {}
    )
    entry_ids = {m.owner_id for hits in matches.values() for m in hits}
    entries = {e.pk: e for e in enabled.filter(pk__in=entry_ids)}  # drops disabled banks
    for image_id, hits in matches.items():
        for m in hits:
            if m.owner_id in entries and m.distance <= entries[m.owner_id].bank.match_distance():
                variant = f"{m.query_kind}~{m.stored_kind}"
                offer(image_id, BanHit(entries[m.owner_id], Link.Kind.PDQ, m.distance, None, variant))

    if semantic_enabled():
        _semantic_ban_hits(images, enabled, offer)
    # An image a moderator banned is not a match of its own ban.
    return {i: h for i, h in best.items() if h.entry.image_id != i}


_BAN_CHUNK = 2000


def _semantic_ban_hits(images: list[Image], enabled, offer) -> None:
    for image in images:
        vector = image.embedding_vector()
        if vector is None:
            continue
        entries = enabled.filter(embedding_model=image.embedding_model).exclude(embedding=None)
        for start in range(0, entries.count(), _BAN_CHUNK):
            chunk = list(entries.order_by("pk")[start : start + _BAN_CHUNK])
            matrix = np.stack([e.embedding_vector() for e in chunk])
            scores = matrix @ vector  # both unit length: cosine
            best = int(np.argmax(scores))
            if scores[best] >= settings.NEAR_DUPLICATE_SCORE:
                score = round(float(scores[best]), 4)
                offer(image.pk, BanHit(chunk[best], Link.Kind.CLIP, None, score, "clip"))


def already_judged(entry: BanEntry, image_id: int) -> bool:
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


def apply_bans(images: list[Image]) -> list[Group]:
    """Hide every image that matches an enabled ban and queue it as a `banned` group."""
    by_id = {image.pk: image for image in images}
    return [
        withhold(by_id[image_id], hit)
        for image_id, hit in ban_hits(images).items()
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


# ---------------------------------------------------------------------------- whole collection


_RESCAN_BATCH = 500


def _indexed_ids() -> list[int]:
    return list(Image.objects.filter(status=Image.Status.INDEXED).order_by("pk").values_list("pk", flat=True))


def _exact_twins() -> list[Candidate]:
    """Indexed images sharing their bytes, each linked to the first of its kind (groups are
    transitive, so a thousand copies make a thousand links, not half a million)."""
    indexed = Image.objects.filter(status=Image.Status.INDEXED)
    shared = indexed.values("sha256").annotate(n=Count("pk")).filter(n__gt=1).values_list("sha256", flat=True)
    first: dict[str, int] = {}
    found = []
    for pk, sha in indexed.filter(sha256__in=shared).order_by("sha256", "pk").values_list("pk", "sha256"):
        if sha in first:
            found.append(Candidate(first[sha], pk, Link.Kind.EXACT, 0, 1.0, "sha256"))
        else:
            first[sha] = pk
    return found


def rescan_candidates(progress: Callable[[int], None] | None = None) -> list[Candidate]:
    """Every link of the whole collection: exact twins, every pair of images whose variant hashes
    are within MODERATION_PDQ_DISTANCE (an exact in-memory join, `search.variant_join`), and the
    semantic tier when it is on. `progress(n)`: n more images scanned."""
    from search.variant_join import near_pairs  # faiss is only loaded by the rescan

    found: dict[tuple[int, int], Candidate] = {}

    def offer(candidate: Candidate) -> None:
        key = (candidate.a, candidate.b)
        if key not in found or candidate.better_than(found[key]):
            found[key] = candidate

    for candidate in _exact_twins():
        offer(candidate)
    pairs = near_pairs(
        settings.MODERATION_PDQ_DISTANCE,
        min_quality=settings.PDQ_MIN_QUALITY,
        limit=_NEIGHBOURS,
        progress=progress,
    )
    for pair in pairs.values():
        offer(Candidate(pair.a, pair.b, Link.Kind.PDQ, pair.distance, None, pair.variant))
    if semantic_enabled():
        ids = _indexed_ids()
        for start in range(0, len(ids), _RESCAN_BATCH):
            for candidate in _semantic_candidates(load(ids[start : start + _RESCAN_BATCH])):
                offer(candidate)
    return list(found.values())


@dataclass(frozen=True)
class RescanReport:
    images: int
    candidates: int
    open_links: int
    banned: int


def rescan(*, bans: bool = False, progress: Callable[[int], None] | None = None) -> RescanReport:
    """Rescan everything indexed: links (dismissed and resolved ones stay as they are) and their
    groups, and with `bans` every image against the enabled banks."""
    ids = _indexed_ids()
    banned = 0
    if bans:
        for start in range(0, len(ids), _RESCAN_BATCH):
            banned += len(apply_bans(load(ids[start : start + _RESCAN_BATCH])))
    candidates = rescan_candidates(progress)
    touched = 0
    for start in range(0, len(candidates), _RESCAN_BATCH):
        links = save_links(without_ban_incidents(candidates[start : start + _RESCAN_BATCH]))
        group_links(links)
        touched += len(links)
    return RescanReport(len(ids), len(candidates), touched, banned)


# ---------------------------------------------------------------------------- entry points


def load(ids: Iterable[int], *, indexed_only: bool = True) -> list[Image]:
    images = Image.objects.filter(pk__in=list(ids)).prefetch_related("hash_variants")
    return list(images.filter(status=Image.Status.INDEXED) if indexed_only else images)


def screen_images(ids: Iterable[int]) -> list[Group]:
    """While images are indexed, before they are published: withhold ban matches."""
    return apply_bans(load(ids, indexed_only=False))


def check_images(ids: Iterable[int], *, bans: bool = True) -> int:
    """Duplicate and ban checks for these images (at indexing time, and by the rescan).
    Returns how many open links were made or confirmed."""
    images = load(ids)
    if not images:
        return 0
    if bans:
        apply_bans(images)
    links = save_links(without_ban_incidents(find_candidates(images)))
    group_links(links)
    return len(links)
