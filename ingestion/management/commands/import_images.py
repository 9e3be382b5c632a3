"""Bulk import: every image under DIR becomes a pending row; indexing is queued in batches. Each
file is an `Intake` through `services.create_image`, so a file the owner already has (in the
library or the trash, or earlier in this run) is skipped by the same rule as an upload's 409."""

from __future__ import annotations

import time
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from core.errors import BadInput
from ingestion import services
from ingestion.forms import parse_tags
from ingestion.intake import DuplicateUpload, Intake, Source, read_upload
from ingestion.models import Image
from ingestion.signals import announce_created
from ingestion.validation import InvalidImage

LISTED = 50  # skipped and rejected files named in the report; the rest are counted
EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}


def find_images(root: Path, recursive: bool) -> list[Path]:
    pattern = root.rglob("*") if recursive else root.glob("*")
    return sorted(p for p in pattern if p.is_file() and p.suffix.lower() in EXTENSIONS)


class Command(BaseCommand):
    help = "Import every image in DIR (recursively) for one owner and queue them for indexing."

    def add_arguments(self, parser):
        parser.add_argument("directory")
        parser.add_argument("--owner", default="admin", help="username that will own the images")
        parser.add_argument("--create-owner", action="store_true", help="create the owner if missing")
        parser.add_argument("--visibility", default="public", choices=Image.Visibility.values)
        parser.add_argument("--tags", default="", help="comma-separated tags for every image")
        parser.add_argument("--no-recursive", action="store_true")
        parser.add_argument(
            "--allow-duplicates",
            action="store_true",
            help="import files the owner already has (same SHA-256), in the library or in the trash",
        )
        parser.add_argument("--batch-size", type=int, default=settings.INGEST_BATCH_SIZE)
        parser.add_argument("--wait", action="store_true", help="wait and show indexing progress")
        parser.add_argument("--timeout", type=float, default=3600, help="seconds --wait waits at most")

    def handle(self, *args, **opts):
        root = Path(opts["directory"]).expanduser()
        if not root.is_dir():
            raise CommandError(f"{root} is not a directory.")
        owner = self._owner(opts["owner"], opts["create_owner"])
        try:
            tags = parse_tags(opts["tags"])
        except BadInput as exc:
            raise CommandError(str(exc)) from None
        paths = find_images(root, not opts["no_recursive"])
        if not paths:
            self.stdout.write(f"No image files found in {root}.")
            return
        created, skipped, rejected = [], [], []
        batch: list[int] = []
        for path in tqdm(paths, desc="Importing", unit="file", disable=opts["verbosity"] == 0):
            try:
                image = services.create_image(self._intake(path, owner, tags, opts), announce=False)
            except DuplicateUpload as refusal:  # the owner has it (in the library or the trash)
                skipped.append(f"{path}: {refusal}")
                continue
            except (InvalidImage, OSError) as exc:
                rejected.append(f"{path}: {exc}")
                continue
            created.append(image.pk)
            batch.append(image.pk)
            if len(batch) >= opts["batch_size"]:
                announce_created(batch)
                batch = []
        announce_created(batch)
        self.stdout.write(
            f"Imported {len(created)} image(s), skipped {len(skipped)} duplicate(s), "
            f"rejected {len(rejected)}."
        )
        self._list(self.stdout, "skipped", skipped)
        self._list(self.stderr, "rejected", rejected)
        if opts["wait"] and created:
            self._wait(created, opts["timeout"], opts["verbosity"])

    @staticmethod
    def _intake(path: Path, owner, tags: list[str], opts: dict) -> Intake:
        with path.open("rb") as fh:
            data = read_upload(fh)
        return Intake(
            owner=owner,
            data=data,
            source=Source.IMPORT,
            filename=path.name,
            title=path.stem,
            tags=tags,
            visibility=opts["visibility"],
            allow_duplicate=opts["allow_duplicates"],
        )

    @staticmethod
    def _list(stream, verb: str, lines: list[str]) -> None:
        for line in lines[:LISTED]:
            stream.write(f"  {verb} {line}")
        if len(lines) > LISTED:
            stream.write(f"  ... and {len(lines) - LISTED} more {verb}")

    def _owner(self, username: str, create: bool):
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user:
            return user
        if not create:
            raise CommandError(
                f"No user '{username}'. Pass --owner USERNAME, or --create-owner to create it."
            )
        user = User.objects.create_user(username=username)
        self.stdout.write(f"Created user '{username}' (no password; set one with changepassword).")
        return user

    def _wait(self, ids: list[int], timeout: float, verbosity: int) -> None:
        deadline = time.monotonic() + timeout
        rows = Image.objects.filter(pk__in=ids)
        with tqdm(total=len(ids), desc="Indexing", unit="img", disable=verbosity == 0) as bar:
            while True:
                done = rows.exclude(status=Image.Status.PENDING).count()
                bar.update(done - bar.n)
                if done >= len(ids):
                    break
                if time.monotonic() > deadline:
                    raise CommandError(
                        f"{len(ids) - done} image(s) still pending after {timeout:g} s; "
                        "is the ingest worker running? They stay queued."
                    )
                time.sleep(0.5)
        failed = rows.filter(status=Image.Status.FAILED).count()
        self.stdout.write(f"Indexed {len(ids) - failed}, failed {failed}.")
