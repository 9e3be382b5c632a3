"""The vocabulary of copy detection: which PDQ hash variants an image publishes, where each one
sits in a Milvus row id, and which hashes are strong enough to trust. `search.query.copies` owns the
judgement built on it; this module sits below `search.index` so that the index can publish the
rows without importing the judgement.

A stored variant is a transform computed once, at indexing time, and published (the plain image,
its border-trimmed copy, central crops, the corners, one side cut off by 10, 15 or 20%). The
dihedral turns and flips are only ever queried: a mirrored upload's "mirror" hash meets the
original's "plain" one, so storing them would only repeat the same match.
"""

from __future__ import annotations

import numpy as np
from django.conf import settings

from ingestion.processing import DIHEDRAL_KINDS

PDQ_BITS = 256
# The variant that is the image as it is: its PDQ hash is "the image's PDQ hash" (the image JSON's
# `pdq_hash`, search's copy collapsing, a ban's hash). Kept as a HashVariant row like every other.
PLAIN = "plain"
# kind -> slot in the row id. Slots are never reused for another kind: a row id names one
# (owner, transform) for good, so a collection can be rebuilt without renumbering.
STORED_KINDS = {
    PLAIN: 0,
    "trim": 1,
    "crop90": 2,
    "crop80": 3,
    "crop75": 4,
    "crop90-tl": 5,
    "crop90-tr": 6,
    "crop90-bl": 7,
    "crop90-br": 8,
    "cut10-top": 9,
    "cut10-bottom": 10,
    "cut10-left": 11,
    "cut10-right": 12,
    # PDQ moves about 45 bits per 5% cut, so a 15% or 20% cut needs its own level.
    "cut15-top": 13,
    "cut15-bottom": 14,
    "cut15-left": 15,
    "cut15-right": 16,
    "cut20-top": 17,
    "cut20-bottom": 18,
    "cut20-left": 19,
    "cut20-right": 20,
}
# An upload is checked with all its hashes: it must meet copies stored before it from both sides
# (its own crop meets an earlier upload of the crop's picture, its plain hash an earlier crop).
QUERY_KINDS = tuple(dict.fromkeys((*DIHEDRAL_KINDS, *STORED_KINDS)))
# A whole-collection scan sees both ends of every pair, so the turns and flips of each image meeting
# the stored variants of every other find the same pairs; only a crop of one meeting a crop of the
# other (both already linked to their original) is left out, and the scan stays 3.6x smaller.
SCAN_QUERY_KINDS = DIHEDRAL_KINDS
_KIND_OF_SLOT = {slot: kind for kind, slot in STORED_KINDS.items()}
VARIANT_SLOTS = 32  # room for more kinds; owner ids stay below 2**58
# The collections of variant rows. The layout (slots per owner) is part of the name: a row id
# means something else under another layout, so a new layout starts new collections, which
# `reconcile` fills from the database.
VARIANT_COLLECTION = f"pdq_variants_{PDQ_BITS}_s{VARIANT_SLOTS}"
BAN_COLLECTION = f"pdq_bans_{PDQ_BITS}_s{VARIANT_SLOTS}"
# Collections of earlier layouts (16 slots an owner): `reconcile` drops them once the new ones exist.
EARLIER_COLLECTIONS = (f"pdq_variants_{PDQ_BITS}", f"pdq_bans_{PDQ_BITS}")
# The kinds whose absence says an image was hashed before the newest stored kinds existed.
NEWEST_KIND = "cut20-right"


def strong(quality: int | None) -> bool:
    """Whether a hash is trusted: PDQ's own quality score, as HMA ignores weak hashes."""
    return (quality or 0) >= settings.PDQ_MIN_QUALITY


def is_stored(kind: str) -> bool:
    return kind in STORED_KINDS


def row_id(owner_id: int, kind: str) -> int:
    return int(owner_id) * VARIANT_SLOTS + STORED_KINDS[kind]


def split_row_id(value: int) -> tuple[int, str]:
    owner_id, slot = divmod(int(value), VARIANT_SLOTS)
    return owner_id, _KIND_OF_SLOT.get(slot, "?")


def all_row_ids(owner_id: int) -> list[int]:
    """Every row id an owner could have, stored or not (a delete removes them all)."""
    return [row_id(owner_id, kind) for kind in STORED_KINDS]


def pdq_vector(hex_hash: str) -> np.ndarray:
    """A hash as the +1/-1 vector Milvus Lite can store (it has no binary vectors): the inner
    product of two is 256 - 2 x their Hamming distance."""
    bits = np.unpackbits(np.frombuffer(bytes.fromhex(hex_hash), dtype=np.uint8))
    return (bits.astype(np.float32) * 2.0 - 1.0)[:PDQ_BITS]


def hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()
