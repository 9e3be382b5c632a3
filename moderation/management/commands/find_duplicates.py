"""Rescan the whole collection for near-duplicates (and, with --bans, ban matches), in batches.

Every image's variant hashes go to Milvus in batched range searches; links moderators dismissed
or resolved stay as they are. The variant collection is first brought in line with the database
(the source of truth), so a rescan also repairs a lost or stale index."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand
from tqdm import tqdm

from ingestion.models import Image
from moderation.detection import check_images
from moderation.models import Group, Link
from search import index


class Command(BaseCommand):
    help = "Find near-duplicates across all indexed images (batched, with a progress bar)."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500, help="images per batch (1-5000)")
        parser.add_argument("--bans", action="store_true", help="also match every image against the banks")
        parser.add_argument("--no-sync", action="store_true", help="skip restoring the variant collection")
        parser.add_argument("--quiet", action="store_true", help="no progress bar")

    def handle(self, *args, **opts):
        batch = max(1, min(int(opts["batch_size"]), 5000))
        started = time.perf_counter()
        if not opts["no_sync"]:
            synced = index.sync_variants()
            self.stderr.write(f"variant rows: {synced.restored} restored, {synced.orphans_deleted} orphans")
        indexed = Image.objects.filter(status=Image.Status.INDEXED).order_by("pk")
        ids = list(indexed.values_list("pk", flat=True))
        links_before = Link.objects.count()
        touched = 0
        with tqdm(total=len(ids), unit="img", disable=opts["quiet"], file=self.stderr) as bar:
            for start in range(0, len(ids), batch):
                chunk = ids[start : start + batch]
                touched += check_images(chunk, bans=opts["bans"], full_scan=True)
                bar.update(len(chunk))
        elapsed = time.perf_counter() - started
        open_groups = Group.objects.filter(kind=Group.Kind.DUPLICATE, status=Group.Status.OPEN).count()
        self.stdout.write(
            f"scanned {len(ids)} images in {elapsed:.1f} s ({len(ids) / max(elapsed, 1e-9):.0f} images/s): "
            f"{Link.objects.count() - links_before} new links, {touched} open links, "
            f"{open_groups} open duplicate groups"
        )
