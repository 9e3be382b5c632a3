"""search.0007 and ingestion.0006: every image vector moves from `Image.embedding` into
`ModelEmbedding`, and back again when migrated backwards, on a populated database."""

from __future__ import annotations

import numpy as np
import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

DATA = ("search", "0007_vectors_in_model_embedding")
COLUMNS = ("ingestion", "0006_remove_image_embedding")


def blob(seed: int, dim: int = 4) -> bytes:
    return np.random.default_rng(seed).normal(size=dim).astype(np.float32).tobytes()


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state(targets).apps


def before_the_move() -> list[tuple[str, str]]:
    """The state search.0007 starts from: its parents, whatever number they carry after a merge."""
    executor = MigrationExecutor(connection)
    parents = executor.loader.graph.node_map[DATA].parents
    return sorted(parent.key for parent in parents if parent.key[0] in {"search", "ingestion"})


@pytest.fixture(autouse=True)
def _back_to_the_latest_schema():
    yield
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


def vectors_of(apps) -> set[tuple[int, str, bytes]]:
    rows = apps.get_model("search", "ModelEmbedding").objects.values_list("image_id", "model_id", "vector")
    return {(image_id, model_id, bytes(vector)) for image_id, model_id, vector in rows}


def test_the_vectors_move_into_model_embedding_and_back(settings):
    settings.CLIP_MODEL = "demo"  # the active model: no switch row
    apps = migrate(before_the_move())
    User = apps.get_model("auth", "User")
    Image = apps.get_model("ingestion", "Image")
    ModelEmbedding = apps.get_model("search", "ModelEmbedding")
    owner = User.objects.create(username="alice")
    fields = {"owner": owner, "format": "PNG", "size_bytes": 1, "width": 1, "height": 1}
    plain = Image.objects.create(sha256="a", embedding=blob(1), embedding_model="demo", **fields)
    # Switched away from demo-64: its vector is a row already, the active one in Image.
    switched = Image.objects.create(sha256="b", embedding=blob(2), embedding_model="demo", **fields)
    ModelEmbedding.objects.create(image=switched, model_id="demo-64", vector=blob(3, dim=2))
    pending = Image.objects.create(sha256="c", **fields)
    # Indexed with the old model only: after the move it has no vector of the active model.
    outdated = Image.objects.create(sha256="d", embedding=blob(4), embedding_model="old", **fields)
    # A row of the same model already there wins (the two are written together).
    both = Image.objects.create(sha256="e", embedding=blob(5), embedding_model="demo", **fields)
    ModelEmbedding.objects.create(image=both, model_id="demo", vector=blob(6))
    trashed = Image.objects.create(sha256="f", embedding=blob(7), embedding_model="demo", **fields)
    Image.objects.filter(pk=trashed.pk).update(trashed_at="2026-01-01T00:00:00Z")

    apps = migrate([COLUMNS, *MigrationExecutor(connection).loader.graph.leaf_nodes()])
    assert vectors_of(apps) == {
        (plain.pk, "demo", blob(1)),
        (switched.pk, "demo", blob(2)),
        (switched.pk, "demo-64", blob(3, dim=2)),
        (outdated.pk, "old", blob(4)),
        (both.pk, "demo", blob(6)),
        (trashed.pk, "demo", blob(7)),
    }
    Image = apps.get_model("ingestion", "Image")
    assert not {"embedding", "embedding_model"} & {f.name for f in Image._meta.get_fields()}

    apps = migrate(before_the_move())
    Image = apps.get_model("ingestion", "Image")
    back = {
        i.pk: (i.embedding_model, bytes(i.embedding) if i.embedding else None)
        for i in Image._base_manager.all()
    }
    assert back == {
        plain.pk: ("demo", blob(1)),
        switched.pk: ("demo", blob(2)),
        pending.pk: ("", None),
        outdated.pk: ("old", blob(4)),  # no row of the active model: its most recent row
        both.pk: ("demo", blob(6)),
        trashed.pk: ("demo", blob(7)),
    }
    # Only the vectors of other models than the one in Image stay rows, as before the move.
    assert vectors_of(apps) == {(switched.pk, "demo-64", blob(3, dim=2))}


def image_triggers() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'ingestion_image'"
        )
        return {row[0] for row in cursor.fetchall()}


@pytest.mark.skipif(connection.vendor != "sqlite", reason="PostgreSQL never drops triggers with a column")
def test_the_keyword_triggers_survive_the_migrations_both_ways():
    before = image_triggers()
    assert before  # the keyword index follows the images' titles and file names
    migrate(before_the_move())
    assert image_triggers() == before
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
    assert image_triggers() == before
