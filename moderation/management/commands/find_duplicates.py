"""Rescan the whole collection for near-duplicates (and, with --bans, ban matches).

Every indexed image's turns and flips are joined with every other image's stored variant hashes in
memory (exact, `search.query.variant_join`), read from the database; links moderators dismissed or
resolved stay as they are. The variant collection in Milvus, which uploads are checked against,
is first brought in line with the database, so a rescan also repairs a lost or stale index."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand
from tqdm import tqdm

from ingestion.models import Image
from moderation.detection import rescan
from moderation.models import Group
from search import index


class Command(BaseCommand):
    help = "Find near-duplicates across all indexed images (with a progress bar)."

    def add_arguments(self, parser):
        parser.add_argument("--bans", action="store_true", help="also match every image against the banks")
        parser.add_argument("--no-sync", action="store_true", help="skip restoring the variant collection")
        parser.add_argument("--quiet", action="store_true", help="no progress bar")

    def handle(self, *args, **opts):
        started = time.perf_counter()
        if not opts["no_sync"]:
            synced = index.sync_variants()
            self.stderr.write(f"variant rows: {synced.restored} restored, {synced.orphans_deleted} orphans")
        total = Image.objects.filter(status=Image.Status.INDEXED).count()
        with tqdm(total=total, unit="img", disable=opts["quiet"], file=self.stderr) as bar:
            report = rescan(bans=opts["bans"], progress=bar.update)
        elapsed = time.perf_counter() - started
        open_groups = Group.objects.filter(kind=Group.Kind.DUPLICATE, status=Group.Status.OPEN).count()
        banned = f", {report.banned} ban matches" if opts["bans"] else ""
        self.stdout.write(
            f"scanned {report.images} images in {elapsed:.1f} s "
            f"({report.images / max(elapsed, 1e-9):.0f} images/s): {report.candidates} candidate pairs, "
            f"{report.open_links} open links, {open_groups} open duplicate groups{banned}"
        )
