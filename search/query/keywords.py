"""The keyword side of search: title, tags, original filename and OCR text, matched in the database.

The index is the `search_keywords` table that migration 0001 creates and SQL triggers keep in step
with every write to images and tags. SQLite searches it with FTS5's trigram tokenizer, PostgreSQL
with pg_trgm-indexed ILIKE; both therefore match substrings and Chinese without spaces. A trigram
index cannot look up needles shorter than three characters (西湖, 面条), so those are matched with
LIKE over the same columns, within the same candidate bound.

Every lookup is restricted inside the database to the ids of a queryset the caller built from the
search's `ingestion.filters.ImageFilter` (the viewer's listing rule and every filter): the keyword
side sees exactly the images the vector side may show, never another user's private image."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import connection
from django.db.models import QuerySet

from ingestion.models import Image

from .query_language import Query, Term

FIELDS = ("title", "tags", "filename", "ocr")
# How much a match in each field says about the image (a tag or title is chosen by a person).
# A file name is often the only name a picture has (coffee_crop15.jpg): its whole words count as a
# title's; camera names (IMG_0042.jpg) hold no word anyone searches for, so they cost nothing.
FIELD_WEIGHTS = {"title": 3.0, "tags": 3.0, "filename": 3.0, "ocr": 2.0}
EXACT_BONUS = 2.0
TEXT_COLUMNS = ", ".join(f"search_keywords.{c}" for c in FIELDS)
TRIGRAM = 3
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")


@dataclass(frozen=True)
class KeywordHit:
    image_id: int
    score: float
    fields: tuple[str, ...]  # which of FIELDS matched, in FIELDS order
    exact: bool  # a whole word (any run, for scripts written without spaces) matched


_SEPARATORS = re.compile(r"[\W_]+")
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,5}$")


def _camel_parts(chunk: str) -> list[str]:
    """`chunk` cut where letters meet digits and where a lower-case letter meets an upper-case one
    (coffeeCup15 -> coffee Cup 15; HTMLParser -> HTML Parser)."""
    parts: list[str] = []
    current = ""
    for ch in chunk:
        if current:
            prev = current[-1]
            if ch.isdigit() != prev.isdigit() or (ch.isupper() and prev.islower()):
                parts.append(current)
                current = ""
            elif ch.islower() and prev.isupper() and len(current) > 1:
                parts.append(current[:-1])  # the last capital starts the next word
                current = prev
        current += ch
    return [*parts, current] if current else parts


def filename_words(name: str) -> list[str]:
    """The words of a file name: split at `_`, `-`, `.`, spaces, camelCase and digit runs, without
    the extension, so `coffee` is a whole word of `coffee_crop15.jpg`."""
    stem = _EXTENSION.sub("", name)
    return [part for chunk in _SEPARATORS.split(stem) for part in _camel_parts(chunk)]


def _filename_text(name: str) -> str:
    """The name as stored (a substring such as `crop15` still matches) and its words after it."""
    words = " ".join(filename_words(name))
    return f"{name} {words}" if words else name


def _like(needle: str) -> str:
    return "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _fts_string(needle: str) -> str:
    return '"' + needle.replace('"', '""') + '"'


def _needles(term: Term) -> list[str]:
    return [w.casefold() for w in term.words() if w.strip()]


def _candidate_sql(needles: list[str], base_sql: str, limit: int) -> tuple[str, list]:
    """Ids holding every needle (in any column), among the ids `base_sql` selects."""
    params: list = []
    where: list[str] = []
    if connection.vendor == "sqlite":
        long = [n for n in needles if len(n) >= TRIGRAM]
        short = [n for n in needles if len(n) < TRIGRAM]
        if long:
            where.append("search_keywords MATCH %s")
            params.append(" AND ".join(_fts_string(n) for n in long))
        for needle in short:
            # A scan, bounded by LIMIT; instr is several times cheaper than LIKE here.
            column = "{}" if needle.upper() == needle.lower() else "lower({})"  # no case: no lower()
            where.append("(" + " OR ".join(f"instr({column.format(c)}, %s)" for c in FIELDS) + ")")
            params += [needle] * len(FIELDS)
        order = "rank" if long else "search_keywords.rowid DESC"
        # CROSS JOIN keeps the full-text lookup as the outer loop (run once); with a plain join or
        # `rowid IN (subquery)` SQLite may run the MATCH once per visible image instead.
        sql = (
            f"SELECT search_keywords.rowid, {TEXT_COLUMNS} FROM search_keywords "
            f"CROSS JOIN ({base_sql}) AS allowed ON allowed.pk = search_keywords.rowid "
            f"WHERE {' AND '.join(where)} ORDER BY {order} LIMIT %s"
        )
    else:
        for needle in needles:
            where.append("(" + " OR ".join(f"{c} ILIKE %s" for c in FIELDS) + ")")
            params += [_like(needle)] * len(FIELDS)
        sql = (
            f"SELECT image_id, {TEXT_COLUMNS} FROM search_keywords WHERE {' AND '.join(where)} "
            f"AND image_id IN ({base_sql}) ORDER BY image_id DESC LIMIT %s"
        )
    return sql, params


def _is_exact(needle: str, text: str) -> bool:
    if _CJK.search(needle):
        return needle in text  # no spaces between words: any run is as good as a word
    return re.search(rf"(?<!\w){re.escape(needle)}(?!\w)", text) is not None


def _short_latin(needle: str) -> bool:
    # "a" or "of" as a substring matches nearly everything; such needles must be whole words.
    return len(needle) < TRIGRAM and not _CJK.search(needle)


def _found(needle: str, text: str) -> bool:
    return _is_exact(needle, text) if _short_latin(needle) else needle in text


def _present(needles: list[str], texts: dict[str, str]) -> bool:
    return all(any(_found(n, text) for text in texts.values()) for n in needles)


def search(query: Query, images: QuerySet[Image], limit: int) -> list[KeywordHit]:
    """Images of `images` whose words match a positive text term of `query`, best first; those that
    also match a negative text term are left out. At most `limit` hits."""
    terms = [(t, _needles(t)) for t in query.positive_text_terms]
    terms = [(t, n) for t, n in terms if n]
    if not terms or limit <= 0:
        return []
    ids = images.order_by().values("pk")
    if sum(1 for count in ids.query.alias_refcount.values() if count) > 1:
        # A join (the tags filter) can repeat an image. Without one, DISTINCT would only make SQLite
        # collect every visible id before the join: 10 of a query's 13 ms at 10,000 images.
        ids = ids.distinct()
    base_sql, base_params = ids.query.sql_with_params()
    # Each term's candidates come with their words: one query per term, none per hit.
    rows: dict[int, dict[str, str]] = {}
    with connection.cursor() as cursor:
        for _, needles in terms:
            # A phrase is looked up by its words (a file name writes "morning coffee" as
            # morningCoffee); the phrase itself is checked below, on the split name.
            sql, params = _candidate_sql([w for n in needles for w in n.split()], base_sql, limit)
            args = [*base_params, *params] if connection.vendor == "sqlite" else [*params, *base_params]
            cursor.execute(sql, [*args, limit])
            for row in cursor.fetchall():
                rows.setdefault(int(row[0]), dict(zip(FIELDS, (v or "" for v in row[1:]), strict=True)))
    candidates = list(rows)
    negatives = [n for n in (_needles(t) for t in query.negative_text_terms) if n]
    hits: list[KeywordHit] = []
    for image_id in candidates:
        row = rows.get(image_id)
        if row is None:
            continue
        folded = {field: row[field].casefold() for field in FIELDS}
        folded["filename"] = _filename_text(row["filename"]).casefold()
        if any(_present(n, folded) for n in negatives):
            continue
        score, fields, exact = 0.0, set(), False
        for term, needles in terms:
            if not _present(needles, folded):
                continue
            exact = exact or all(any(_is_exact(n, t) for t in folded.values()) for n in needles)
            for field, text in folded.items():
                inside = [n for n in needles if _found(n, text)]
                if inside:
                    fields.add(field)
                    whole = all(_is_exact(n, text) for n in inside)
                    share = len(inside) / len(needles)
                    score += term.weight * FIELD_WEIGHTS[field] * share * (EXACT_BONUS if whole else 1.0)
        if fields:
            hits.append(KeywordHit(image_id, score, tuple(f for f in FIELDS if f in fields), exact))
    hits.sort(key=lambda h: (-h.exact, -h.score, -h.image_id))
    return hits[:limit]


def rebuild() -> int:
    """Rebuild the keyword index from the images and the words read in them (`OcrRun`; the triggers
    keep it in step, this repairs it): `manage.py reconcile --keywords`."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("DELETE FROM search_keywords")
            cursor.execute(
                "INSERT INTO search_keywords(rowid, title, tags, filename, ocr) SELECT i.id, i.title, "
                "(SELECT COALESCE(group_concat(t.name, ', '), '') FROM ingestion_image_tags it "
                "JOIN ingestion_tag t ON t.id = it.tag_id WHERE it.image_id = i.id), "
                "i.original_filename, COALESCE(r.text, '') FROM ingestion_image i "
                "LEFT JOIN search_ocrrun r ON r.image_id = i.id"
            )
        else:
            cursor.execute("DELETE FROM search_keywords")
            cursor.execute(
                "INSERT INTO search_keywords (image_id, title, tags, filename, ocr) SELECT i.id, i.title, "
                "(SELECT COALESCE(string_agg(t.name, ', ' ORDER BY t.name), '') FROM ingestion_image_tags it "
                "JOIN ingestion_tag t ON t.id = it.tag_id WHERE it.image_id = i.id), "
                "i.original_filename, COALESCE(r.text, '') FROM ingestion_image i "
                "LEFT JOIN search_ocrrun r ON r.image_id = i.id"
            )
        return cursor.rowcount
