"""The test database is the engine the pass says, with the keyword index its migration builds.

`make test` runs the suite on SQLite and, beside it, every database test again on a throwaway
PostgreSQL (tests/postgres_server.py), naming the engine each pass expects (`--expect-database`):
these tests prove that each pass ran where it says, with FTS5 trigram on SQLite and pg_trgm on
PostgreSQL (search/migrations/0001_keyword_index.py)."""

from __future__ import annotations

import pytest
from django.db import connection

from search.query.keywords import FIELDS

pytestmark = pytest.mark.django_db


def test_the_database_is_the_engine_the_pass_expects(request: pytest.FixtureRequest) -> None:
    expected = request.config.getoption("expect_database")
    assert connection.vendor in ("sqlite", "postgresql")
    if expected:
        assert connection.vendor == expected, (
            f"this pass expects {expected}; its database: {connection.vendor}"
        )


def _sqlite_keyword_index() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT sql FROM sqlite_master WHERE name = 'search_keywords'")
        return cursor.fetchone()[0]


def _postgres_trigram_indexes() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT extname FROM pg_extension WHERE extname = 'pg_trgm'")
        assert cursor.fetchall() == [("pg_trgm",)]
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'search_keywords'")
        return dict(cursor.fetchall())


def test_the_keyword_index_is_the_engines_own() -> None:
    if connection.vendor == "sqlite":
        sql = _sqlite_keyword_index()
        assert "USING fts5(" in sql and "tokenize='trigram'" in sql, sql
    else:
        indexes = _postgres_trigram_indexes()
        for field in FIELDS:
            definition = indexes[f"search_keywords_{field}_trgm"]
            assert f"USING gin ({field} gin_trgm_ops)" in definition, definition
        # In a plain C locale pg_trgm drops Chinese characters, and the index cannot narrow such a search.
        with connection.cursor() as cursor:
            cursor.execute("SELECT show_trgm('杭州西湖')")
            assert len(cursor.fetchone()[0]) == 5  # "  杭", " 杭州", "杭州西", "州西湖", "西湖 "; none in C
