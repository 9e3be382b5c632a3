"""How well near-duplicates are found, and how fast the whole collection is rescanned.

Quality: drawn photographs (originals) and distinct distractors go through the real pipeline
(validation, storage, indexing with the configured model, the moderation checks), then every
transform (issue 6's, three off-centre crops, and 15% and 20% cut off each side) is applied to
every original and uploaded the same way. A copy counts as found when it is linked to its
original; a link between two different families (an original with its copies, or a distractor)
is a false link. Both doors that judge copies are measured, and must agree (`search.query.copies` is
the one judgement): the per-image endpoint, asked for every image, and the groups the moderation
queue gets. Beside them: plain hashes only (what the endpoint did before) and CLIP >=
NEAR_DUPLICATE_SCORE (measured even when the tier is off). The cost of the variants per image
(hashing time, stored rows) is reported too.

Scale (--scale 10000,100000): image and hash rows inserted directly (random hashes, 1%
planted near-copies), then `find_duplicates`'s scan timed.

Everything runs in a throw-away Milvus Lite folder, media folder and database transaction that is
rolled back, so no data of a live installation is touched (on SQLite the transaction holds the
write lock while it runs: do not bench beside a busy `make run`)."""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from bench.images import HEADLINE_TRANSFORMS, TRANSFORMS, encode, photo
from ingestion import services
from ingestion.intake import Intake, Source
from ingestion.models import Image
from ingestion.processing import pdq_variants
from moderation import detection
from moderation.models import Group, Link
from search import index, variants
from search.engines.encoder import load_encoder
from search.engines.encoder.families import near_duplicate_score
from search.engines.vector_store import close_client
from search.models import HashVariant
from search.pipeline import switching
from search.pipeline.indexing import index_images
from search.query import copies
from search.query.duplicates import SIMILAR, find_duplicates

TIERS = ("endpoint", "queue", "pdq plain", "clip near")
_WHAT = {
    "endpoint": "GET /api/images/{id}/duplicates/ (exact + near)",
    "queue": "the moderation queue's groups",
    "pdq plain": "plain hashes only (the endpoint before issue 17)",
    "clip near": "CLIP >= NEAR_DUPLICATE_SCORE (counted even where the tier is off)",
}


class Rollback(Exception):
    pass


def _pairs_plain(images: list[Image]) -> set[tuple[int, int]]:
    queries = {i.pk: [h for h in copies.query_hashes(i) if h[0] == "plain"] for i in images}
    found = copies.variant_matches(index.variant_store(), queries, settings.PDQ_MATCH_DISTANCE)
    return {
        tuple(sorted((image_id, m.owner_id)))
        for image_id, hits in found.items()
        for m in hits
        if m.owner_id != image_id and m.stored_kind == "plain"
    }


def _pairs_endpoint(images: list[Image], viewer) -> set[tuple[int, int]]:
    """What the per-image endpoint calls exact or near, asked for every image."""
    pairs = set()
    for image in images:
        for duplicate in find_duplicates(image, viewer):
            if duplicate.kind != SIMILAR:
                pairs.add(tuple(sorted((image.pk, duplicate.image.pk))))
    return pairs


def _pairs_clip(images: list[Image]) -> set[tuple[int, int]]:
    model_id, stored = switching.active_vectors([i.pk for i in images])
    vectors = [(i.pk, stored[i.pk]) for i in images if i.pk in stored]
    if not vectors:
        return set()
    store = index.embedding_store(model_id, len(vectors[0][1]))
    floor = near_duplicate_score(model_id)
    results = store.range_search_many(np.stack([v for _, v in vectors]), min_score=floor, limit=200)
    return {
        tuple(sorted((pk, hit.id)))
        for (pk, _), hits in zip(vectors, results, strict=True)
        for hit in hits
        if hit.id != pk
    }


def _hashing_cost(pictures: list) -> dict:
    """What the variants cost each image: hashing time, and rows and bytes in the variant
    collection (256 float32 per row on Milvus Lite's layout)."""
    started = time.perf_counter()
    made = [pdq_variants(picture) for picture in pictures]
    elapsed = time.perf_counter() - started
    stored = [sum(variants.is_stored(v.kind) and variants.strong(v.quality) for v in found) for found in made]
    rows = float(np.mean(stored)) if stored else 0.0
    return {
        "hashes_per_image": round(float(np.mean([len(found) for found in made])), 1) if made else 0,
        "hashing_ms_per_image": round(1000 * elapsed / max(len(pictures), 1), 1),
        "stored_rows_per_image": round(rows, 1),
        "variant_bytes_per_image_float_layout": round(rows * variants.PDQ_BITS * 4),
    }


class Command(BaseCommand):
    help = "Precision and recall of near-duplicate detection per transform and tier; rescan time at scale."

    def add_arguments(self, parser):
        parser.add_argument("--originals", type=int, default=12)
        parser.add_argument("--distractors", type=int, default=40)
        parser.add_argument(
            "--scale", default="", help="comma-separated collection sizes to time, e.g. 10000"
        )
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts):
        folder = Path(tempfile.mkdtemp(prefix="bench-duplicates-"))
        uri = str(folder / "milvus.db")
        report: dict = {}
        try:
            with override_settings(MILVUS_URI=uri, MEDIA_ROOT=str(folder / "media")):
                index.forget_collections()
                try:
                    with transaction.atomic():
                        owner = get_user_model().objects.create_user(f"bench-dup-{secrets.token_hex(4)}")
                        if opts["originals"] > 0:
                            report["quality"] = self.quality(owner, opts["originals"], opts["distractors"])
                        for size in [int(s) for s in opts["scale"].split(",") if s.strip()]:
                            report.setdefault("scale", []).append(self.scale(owner, size))
                        raise Rollback
                except Rollback:
                    pass
                index.forget_collections()
                close_client(uri)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        if opts["json"]:
            self.stdout.write(json.dumps(report, indent=2))
        else:
            self.print_report(report)

    # ------------------------------------------------------------------ quality

    def quality(self, owner, n_originals: int, n_distractors: int) -> dict:
        encoder = load_encoder()
        family: dict[int, str] = {}
        transform_of: dict[int, str] = {}
        original_of: dict[int, int] = {}

        def upload(data: bytes, name: str) -> Image:
            intake = Intake(
                owner=owner, data=data, source=Source.SCRIPT, filename=name, title=name, allow_duplicate=True
            )
            return services.create_image(intake, announce=False)

        def index_and_check(images: list[Image]) -> None:
            ids = [i.pk for i in images]
            for start in range(0, len(ids), 32):
                chunk = ids[start : start + 32]
                report = index_images(chunk, encoder=encoder)
                detection.check_images(report.indexed)  # what the image_indexed receiver does

        pictures = {}
        first = []
        for i in range(n_originals):
            pictures[i] = photo(1000 + i)
            image = upload(encode(pictures[i]), f"original-{i}.jpg")
            family[image.pk] = f"o{i}"
            first.append(image)
        for j in range(n_distractors):
            image = upload(encode(photo(5000 + j)), f"distractor-{j}.jpg")
            family[image.pk] = f"d{j}"
            first.append(image)
        index_and_check(first)
        originals = {family[i.pk]: i.pk for i in first if family[i.pk].startswith("o")}
        copies_made = []
        for name, transform in TRANSFORMS.items():
            for i in range(n_originals):
                image = upload(transform(pictures[i]), f"{name}-{i}.jpg")
                family[image.pk], transform_of[image.pk] = f"o{i}", name
                original_of[image.pk] = originals[f"o{i}"]
                copies_made.append(image)
        started = time.perf_counter()
        index_and_check(copies_made)
        per_copy_s = (time.perf_counter() - started) / max(len(copies_made), 1)

        everything = detection.load(family)
        group_of = {}
        for group in Group.objects.filter(kind=Group.Kind.DUPLICATE, status=Group.Status.OPEN):
            for image_id in group.members.values_list("image_id", flat=True):
                group_of[image_id] = group.pk
        tiers = {
            "endpoint": _pairs_endpoint(everything, owner),
            "queue": {(link.a_id, link.b_id) for link in Link.objects.filter(a_id__in=family)},
            "pdq plain": _pairs_plain(everything),
            "clip near": _pairs_clip(everything),
        }

        table: dict[str, dict[str, float]] = defaultdict(dict)
        for tier, pairs in tiers.items():
            for name in TRANSFORMS:
                ids = [c for c, t in transform_of.items() if t == name]
                if tier == "queue":
                    hit = sum(1 for c in ids if c in group_of and group_of.get(original_of[c]) == group_of[c])
                else:
                    hit = sum(1 for c in ids if tuple(sorted((c, original_of[c]))) in pairs)
                table[tier][name] = hit / len(ids)
            false = [p for p in pairs if family.get(p[0]) != family.get(p[1])]
            true = len(pairs) - len(false)
            table[tier]["_false_links"] = len(false)
            table[tier]["_precision"] = true / len(pairs) if pairs else 1.0
            table[tier]["_recall"] = float(np.mean([table[tier][name] for name in HEADLINE_TRANSFORMS]))
        return {
            "originals": n_originals,
            "distractors": n_distractors,
            "copies": len(copies_made),
            "model": encoder.model_id,
            "semantic_tier": copies.semantic_enabled(),
            "pdq_distance": settings.PDQ_MATCH_DISTANCE,
            "near_duplicate_score": near_duplicate_score(encoder.model_id),
            "index_and_check_s_per_copy": round(per_copy_s, 3),
            "cost": _hashing_cost([pictures[i] for i in range(n_originals)]),
            "table": table,
        }

    # ------------------------------------------------------------------ scale

    def scale(self, owner, size: int) -> dict:
        """Rows inserted directly (random hashes; 1% of images a near-copy of the one before, 1 to
        30 bits of its plain hash flipped), then `find_duplicates`' rescan timed: it reads the
        hashes from the database and joins them in memory, so Milvus plays no part in it."""
        rng = np.random.default_rng(size)
        now = timezone.now()
        started = time.perf_counter()
        rows = [
            Image(
                owner=owner,
                original=f"bench/{n}",
                format="JPEG",
                size_bytes=1000,
                width=640,
                height=480,
                sha256=secrets.token_hex(32),
                status=Image.Status.INDEXED,
                created_at=now,
            )
            for n in range(size)
        ]
        images = Image.objects.bulk_create(rows, batch_size=2000)
        kinds = list(variants.QUERY_KINDS)
        bits = rng.integers(0, 2, (size, len(kinds), 256), dtype=np.uint8)
        planted = rng.choice(np.arange(1, size, 2), size // 100, replace=False)  # disjoint pairs
        for n in planted:
            bits[n, 0] = bits[n - 1, 0]
            bits[n, 0, rng.choice(256, int(rng.integers(1, 31)), replace=False)] ^= 1
        hexes = np.packbits(bits, axis=2)
        for start in range(0, size, 5000):
            HashVariant.objects.bulk_create(
                [
                    HashVariant(
                        image_id=images[n].pk, kind=kind, pdq_hash=hexes[n, k].tobytes().hex(), quality=100
                    )
                    for n in range(start, min(size, start + 5000))
                    for k, kind in enumerate(kinds)
                ],
                batch_size=5000,
            )
        inserted_db = time.perf_counter() - started
        started = time.perf_counter()
        report = detection.rescan()
        scan = time.perf_counter() - started
        wanted = {(images[n - 1].pk, images[n].pk) for n in planted}
        found = set(Link.objects.filter(a_id__in=[a for a, _ in wanted]).values_list("a_id", "b_id")) & wanted
        return {
            "images": size,
            "hashes": size * len(kinds),
            "db_insert_s": round(inserted_db, 1),
            "find_duplicates_scan_s": round(scan, 1),
            "images_per_s": round(size / scan, 1),
            "planted_pairs": len(planted),
            "planted_found": len(found),
            "open_links": report.open_links,
        }

    # ------------------------------------------------------------------ output

    def print_report(self, report: dict) -> None:
        quality = report.get("quality")
        if quality:
            cost = quality["cost"]
            self.stdout.write(
                f"{quality['originals']} originals x {len(TRANSFORMS)} transforms, "
                f"{quality['distractors']} distractors; model {quality['model']}; "
                f"PDQ distance {quality['pdq_distance']}, CLIP near >= {quality['near_duplicate_score']} "
                f"(semantic tier: {'on' if quality['semantic_tier'] else 'off'}); "
                f"{quality['index_and_check_s_per_copy']} s per copy indexed and checked\n"
                f"variants: {cost['hashes_per_image']} hashes per image in "
                f"{cost['hashing_ms_per_image']} ms, {cost['stored_rows_per_image']} stored rows "
                f"({cost['variant_bytes_per_image_float_layout']} bytes on the float layout)\n"
            )
            for tier in TIERS:
                self.stdout.write(f"- {tier}: {_WHAT[tier]}")
            table = quality["table"]
            self.stdout.write("\n| transform | " + " | ".join(TIERS) + " |")
            self.stdout.write("|---|" + "---:|" * len(TIERS))
            for name in TRANSFORMS:
                self.stdout.write(f"| {name} | " + " | ".join(f"{table[t][name]:.2f}" for t in TIERS) + " |")
            self.stdout.write(
                f"| **recall, the {len(HEADLINE_TRANSFORMS)} headline transforms** | "
                + " | ".join(f"**{table[t]['_recall']:.2f}**" for t in TIERS)
                + " |"
            )
            self.stdout.write(
                "| precision | " + " | ".join(f"{table[t]['_precision']:.2f}" for t in TIERS) + " |"
            )
            self.stdout.write(
                "| false links | " + " | ".join(str(table[t]["_false_links"]) for t in TIERS) + " |"
            )
        for row in report.get("scale", []):
            self.stdout.write(
                f"\nscale {row['images']} images ({row['hashes']} hashes): rows {row['db_insert_s']} s, "
                f"find_duplicates scan {row['find_duplicates_scan_s']} s ({row['images_per_s']} images/s), "
                f"{row['planted_found']} of {row['planted_pairs']} planted pairs linked, "
                f"{row['open_links']} open links"
            )
