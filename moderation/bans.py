"""The ban bank: banning an image (its hashes and vector are kept even if it is deleted), banks
that can be turned off, and HMA-style CSV exchange (pdq_hex, quality, bank, reason, category).
A ban has a public category (what an owner is told) and an internal note (`reason`)."""

from __future__ import annotations

import csv
import io
import logging
import re
import secrets
from collections.abc import Iterator

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from core.errors import BadInput, PayloadTooLarge
from ingestion.models import Image
from search import index, variants
from search.engines.vector_store import VectorRow
from search.pipeline import switching

from . import audit, rescans, withholding
from .models import BanCategory, BanEntry, BanHash, Bank, Group, Hold

log = logging.getLogger(__name__)

DEFAULT_BANK = "default"
BANK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}")
HEX = re.compile(r"[0-9a-f]{64}")
# The contract's four columns; an import also takes a fifth, the public category.
CSV_HEADER = ["pdq_hex", "quality", "bank", "reason"]
MAX_REASON = 1000
# A spreadsheet runs a cell that starts with one of these as a formula (OWASP: CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def check_category(value: str | None) -> str:
    """A public ban category's code; empty means the general 'breaks the rules'."""
    value = (value or "").strip().lower()
    if not value:
        return BanCategory.RULES
    if value not in BanCategory.values:
        raise BadInput(f"category: one of {', '.join(BanCategory.values)}.")
    return value


def check_bank_name(name: str) -> str:
    name = name.strip()
    if not BANK_NAME.fullmatch(name):
        raise BadInput(
            "bank: use 1-64 letters, digits, spaces, '_', '.' or '-', starting with a letter or digit."
        )
    return name


def bank_named(name: str) -> Bank:
    bank, _ = Bank.objects.get_or_create(name=check_bank_name(name))
    return bank


def entry_rows(entries: list[BanEntry]) -> list[VectorRow]:
    """The ban collection's rows of these entries: their strong stored variants."""
    return [
        VectorRow(
            id=variants.row_id(entry.pk, h.kind),
            vector=variants.pdq_vector(h.pdq_hash),
            owner_id=entry.bank_id,
            is_public=True,
            created_at=int(entry.created_at.timestamp()),
        )
        for entry in entries
        for h in entry.hashes.all()
        if variants.is_stored(h.kind) and variants.strong(h.quality)
    ]


def publish_entries(entries: list[BanEntry]) -> None:
    """The strong hashes of these entries into the ban collection in Milvus."""
    rows = entry_rows(entries)
    if rows:
        store = index.ban_store()
        store.upsert(rows)
        store.flush()


def sync_ban_collection() -> index.SyncResult:
    """Make the ban collection hold exactly the entries' strong stored hashes, from the database
    (after Milvus lost data, or when a new row layout starts an empty collection)."""
    hashes = BanHash.objects.filter(kind__in=list(variants.STORED_KINDS))
    wanted = {
        variants.row_id(entry_id, kind)
        for entry_id, kind, quality in hashes.values_list("entry_id", "kind", "quality")
        if variants.strong(quality)
    }

    def rows_for(ids: list[int]) -> list[VectorRow]:
        owners = {variants.split_row_id(i)[0] for i in ids}
        entries = BanEntry.objects.filter(pk__in=owners).prefetch_related("hashes")
        return [row for row in entry_rows(list(entries)) if row.id in set(ids)]

    return index.sync_collection(index.ban_store(), wanted, rows_for)


def ban_image(
    moderator,
    image: Image,
    reason: str,
    bank_name: str = DEFAULT_BANK,
    category: str = BanCategory.RULES,
) -> BanEntry:
    """Ban `image` into a bank and withhold it. Needs its hashes, so only indexed images. The
    caller checks that the moderator may see the image (`services.get_bannable_image`)."""
    hashes = list(image.hash_variants.all())
    plain = next((v for v in hashes if v.kind == variants.PLAIN), None)
    if image.status != Image.Status.INDEXED or plain is None:
        raise BadInput("image: only an indexed image can be banned (its hashes are not computed yet).")
    bank = bank_named(bank_name)
    # The ban keeps its own copy of the active model's vector: matching outlives the image.
    model_id, stored = switching.active_vectors([image.pk])
    vector = stored.get(image.pk)
    with transaction.atomic():
        entry = BanEntry.objects.create(
            bank=bank,
            image=image,
            sha256=image.sha256,
            pdq_hash=plain.pdq_hash,
            pdq_quality=plain.quality,
            embedding=None if vector is None else vector.tobytes(),
            embedding_model="" if vector is None else model_id,
            reason=reason[:MAX_REASON],
            category=check_category(category),
            created_by=moderator,
        )
        BanHash.objects.bulk_create(
            [
                BanHash(entry=entry, kind=v.kind, pdq_hash=v.pdq_hash, quality=v.quality)
                for v in hashes
                if variants.is_stored(v.kind)
            ]
        )
        audit.record(moderator, "ban", f"image {image.pk}", f"bank {bank.name}, {entry.category}: {reason}")
        withholding.hold(image, Hold.Cause.BAN, withholding.banned_reason(entry), ban=entry)
        # Copies already stored are matched in the background (queued once the hashes are published).
        job = rescans.start([entry], moderator, "ban")
    entry.thumbnail = keep_thumbnail(entry, image)
    if entry.thumbnail:
        BanEntry.objects.filter(pk=entry.pk).update(thumbnail=entry.thumbnail)
    publish_entries([entry])
    rescans.queue_on_commit(job)
    return entry


def keep_thumbnail(entry: BanEntry, image: Image) -> str:
    """A copy of the image's thumbnail under the entry's own, unguessable name (after the ban's
    transaction: a rolled-back ban leaves no file). Empty when the image has none."""
    name = image.thumbnail.name
    try:
        if not name or not default_storage.exists(name):
            return ""
        with default_storage.open(name, "rb") as source:
            data = source.read()
        return default_storage.save(f"bans/{entry.pk}-{secrets.token_hex(8)}.webp", ContentFile(data))
    except OSError:  # the ban stands without its picture; moderators still see the hashes
        log.exception("ban %s: could not copy the thumbnail of image %s", entry.pk, image.pk)
        return ""


def forget_thumbnail(name: str) -> None:
    if name and default_storage.exists(name):
        default_storage.delete(name)


def delete_entry(moderator, entry: BanEntry, note: str = "") -> None:
    """Unban: the entry leaves the bank, its open matches leave the queue, and every image it
    alone withheld (the banned image, re-uploads, retroactive matches) is shown again."""
    entry_id, bank, thumbnail = entry.pk, entry.bank.name, entry.thumbnail
    with transaction.atomic():
        Group.objects.filter(kind=Group.Kind.BANNED, status=Group.Status.OPEN, ban=entry).update(
            status=Group.Status.RESOLVED,
            resolution="unbanned",
            resolved_by=moderator,
            resolved_at=timezone.now(),
        )
        released = withholding.release(Hold.objects.filter(ban=entry))
        entry.delete()
        audit.record(
            moderator,
            "unban",
            f"ban {entry_id}",
            _join(note or f"removed from bank {bank}", f"shown again: {released}" if released else ""),
        )
    index.ban_store().delete(variants.all_row_ids(entry_id))
    index.ban_store().flush()
    forget_thumbnail(thumbnail)


def _join(note: str, detail: str) -> str:
    return f"{note} ({detail})" if detail else note


def set_bank_enabled(moderator, bank: Bank, enabled: bool) -> None:
    bank.enabled = enabled
    bank.save(update_fields=["enabled"])
    audit.record(moderator, "enable_bank" if enabled else "disable_bank", f"bank {bank.name}")


def set_bank_distance(moderator, bank: Bank, max_distance: int | None) -> None:
    """How near an upload must be to this bank's hashes to match (None: the setting). Applies to
    later checks; `find_duplicates --bans` applies it to what is stored."""
    bank.max_distance = max_distance
    bank.save(update_fields=["max_distance"])
    audit.record(moderator, "bank_distance", f"bank {bank.name}", f"PDQ distance {bank.match_distance()}")


# ---------------------------------------------------------------------------- CSV


def export_rows() -> Iterator[str]:
    """The CSV, line by line (streamed: a bank may hold many entries)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    entries = BanEntry.objects.exclude(pdq_hash="").select_related("bank").order_by("pk")
    for entry in entries.iterator(chunk_size=1000):
        writer.writerow([entry.pdq_hash, entry.pdq_quality or 0, entry.bank.name, defuse(entry.reason)])
        if out.tell() > 64 * 1024:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


def defuse(cell: str) -> str:
    """A cell no spreadsheet runs as a formula: a leading quote, as OWASP recommends."""
    return f"'{cell}" if cell.startswith(FORMULA_STARTS) else cell


def _undefuse(cell: str) -> str:
    """Our own export read back: the quote `defuse` added goes again."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_STARTS) else cell


def parse_csv(data: bytes) -> list[tuple[str, int, str, str, str]]:
    """Rows (pdq hex, quality, bank, reason, category); any bad row refuses the whole file, naming
    its line."""
    if len(data) > settings.MODERATION_IMPORT_MAX_BYTES:
        raise PayloadTooLarge(
            f"file: at most {settings.MODERATION_IMPORT_MAX_BYTES} bytes can be imported at once."
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadInput("file: must be UTF-8 text (CSV: pdq_hex, quality, bank, reason).") from None
    if "\x00" in text:
        raise BadInput("file: must be UTF-8 text (CSV: pdq_hex, quality, bank, reason).")
    rows = []
    try:
        for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
            if not row or all(not cell.strip() for cell in row):
                continue
            if number == 1 and [c.strip().lower() for c in row[:2]] == CSV_HEADER[:2]:
                continue
            rows.append(_parse_row(number, row))
            if len(rows) > settings.MODERATION_IMPORT_MAX_ROWS:
                raise BadInput(
                    f"file: at most {settings.MODERATION_IMPORT_MAX_ROWS} rows can be imported at once."
                )
    except csv.Error as exc:
        raise BadInput(f"file: not readable as CSV ({exc}).") from None
    if not rows:
        raise BadInput("file: no rows to import (expected: pdq_hex, quality, bank, reason).")
    return rows


def _parse_row(number: int, row: list[str]) -> tuple[str, int, str, str, str]:
    where = f"file line {number}"
    if len(row) < 2 or len(row) > 5:
        raise BadInput(f"{where}: expected pdq_hex, quality, bank, reason, category.")
    pdq = row[0].strip().lower()
    if not HEX.fullmatch(pdq):
        raise BadInput(f"{where}: pdq_hex must be 64 hexadecimal characters.")
    try:
        quality = int(row[1].strip())
    except ValueError:
        quality = -1
    if not 0 <= quality <= 100:
        raise BadInput(f"{where}: quality must be a whole number from 0 to 100.")
    bank = row[2].strip() if len(row) > 2 and row[2].strip() else DEFAULT_BANK
    if not BANK_NAME.fullmatch(bank):
        raise BadInput(f"{where}: bank must be 1-64 letters, digits, spaces, '_', '.' or '-'.")
    reason = _undefuse(row[3].strip()) if len(row) > 3 else ""
    if len(reason) > MAX_REASON:
        raise BadInput(f"{where}: reason is longer than {MAX_REASON} characters.")
    try:
        category = check_category(row[4] if len(row) > 4 else "")
    except BadInput as exc:
        raise BadInput(f"{where}: {exc}") from None
    return pdq, quality, bank, reason, category


def import_csv(moderator, data: bytes) -> dict:
    """Add the file's hashes to their banks (a hash already in its bank is skipped); the images
    already stored are matched against the new ones in the background ("rescan": the job, or None
    when nothing was new)."""
    rows = parse_csv(data)
    created: list[BanEntry] = []
    with transaction.atomic():
        banks = {name: bank_named(name) for name in {r[2] for r in rows}}
        have = set(
            BanEntry.objects.filter(bank__in=banks.values(), pdq_hash__in={r[0] for r in rows}).values_list(
                "bank__name", "pdq_hash"
            )
        )
        for pdq, quality, bank, reason, category in rows:
            if (bank, pdq) in have:
                continue
            have.add((bank, pdq))
            created.append(
                BanEntry(
                    bank=banks[bank],
                    pdq_hash=pdq,
                    pdq_quality=quality,
                    reason=reason,
                    category=category,
                    created_by=moderator,
                )
            )
        job = rescans.new_job(moderator, "import") if created else None
        for entry in created:
            entry.rescan = job
        created = BanEntry.objects.bulk_create(created, batch_size=1000)
        BanHash.objects.bulk_create(
            [BanHash(entry=e, kind="plain", pdq_hash=e.pdq_hash, quality=e.pdq_quality) for e in created],
            batch_size=1000,
        )
        audit.record(
            moderator, "import_bans", f"{len(created)} entries", f"{len(rows) - len(created)} already banned"
        )
    fresh = list(BanEntry.objects.filter(pk__in=[e.pk for e in created]).prefetch_related("hashes"))
    for start in range(0, len(fresh), 1000):
        publish_entries(fresh[start : start + 1000])
    rescans.queue_on_commit(job)
    return {"imported": len(created), "skipped": len(rows) - len(created), "rescan": job}
