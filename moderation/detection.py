"""Near-duplicate links and groups for the moderation queue. Whether two images are copies is
`search.query.copies`' judgement (the one the duplicates endpoint uses); this module turns its matches
into links, and links into groups (connected components, kept incrementally). Links moderators
dismissed or resolved never come back. Ban enforcement lives with the bans (`ban_matching`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from ingestion.models import Image
from search.query import copies

from . import ban_matching
from .models import BanEntry, Group, GroupMember, Link

log = logging.getLogger(__name__)

_RANK = {Link.Kind.EXACT: 0, Link.Kind.PDQ: 1, Link.Kind.CLIP: 2}


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


def as_candidate(match: copies.Match) -> Candidate:
    a, b = _pair(match.query_id, match.other_id)
    return Candidate(a, b, match.tier, match.distance, match.score, match.variant)


def find_candidates(images: list[Image]) -> list[Candidate]:
    """Links from these images to any other indexed image (all users), in a few batched queries."""
    found: dict[tuple[int, int], Candidate] = {}
    for matches in copies.copies_of(images).values():
        for match in matches.values():
            candidate = as_candidate(match)
            key = (candidate.a, candidate.b)
            if key not in found or candidate.better_than(found[key]):
                found[key] = candidate
    return list(found.values())


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


# ---------------------------------------------------------------------------- whole collection


_RESCAN_BATCH = 500


def _indexed_ids() -> list[int]:
    return list(Image.objects.filter(status=Image.Status.INDEXED).order_by("pk").values_list("pk", flat=True))


def rescan_candidates(progress: Callable[[int], None] | None = None) -> list[Candidate]:
    """Every link of the whole collection (`search.query.copies.all_copies`). `progress(n)`: n more
    images scanned."""
    found: dict[tuple[int, int], Candidate] = {}
    for match in copies.all_copies(progress):
        candidate = as_candidate(match)
        key = (candidate.a, candidate.b)
        if key not in found or candidate.better_than(found[key]):
            found[key] = candidate
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
            banned += len(ban_matching.apply_bans(load(ids[start : start + _RESCAN_BATCH])))
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
    return ban_matching.apply_bans(load(ids, indexed_only=False))


def check_images(ids: Iterable[int], *, bans: bool = True) -> int:
    """Duplicate and ban checks for these images (at indexing time, and by the rescan).
    Returns how many open links were made or confirmed."""
    images = load(ids)
    if not images:
        return 0
    if bans:
        ban_matching.apply_bans(images)
    links = save_links(without_ban_incidents(find_candidates(images)))
    group_links(links)
    return len(links)
