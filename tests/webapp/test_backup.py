"""manage.py backup / restore: the database and the media into one archive, restored into an
empty site where search finds the image again (Milvus rebuilt from the database)."""

from __future__ import annotations

import io
import tarfile

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from ingestion import trash
from ingestion.models import Image
from search import index
from search.engines.vector_store import get_client
from tests.factories import api_client, make_image, make_user, model_of, stored_vectors, vector_of
from tests.factories import index as index_images

pytestmark = pytest.mark.django_db(transaction=True)


def empty_the_site(settings, tmp_path) -> None:
    """As a fresh DATA_DIR: no rows, no media files, no collections."""
    call_command("flush", interactive=False, verbosity=0)
    settings.MEDIA_ROOT = tmp_path / "fresh-media"
    client = get_client()
    for name in client.list_collections():
        client.drop_collection(name)
    index.forget_collections()


def test_a_backup_restores_into_an_empty_site_and_search_finds_the_image(clean_index, settings, tmp_path):
    image = make_image(make_user("alice"), title="lighthouse at dusk", tags=["coast"])
    index_images(image)
    archive = tmp_path / "site.tar.gz"
    call_command("backup", str(archive), stdout=io.StringIO())
    with pytest.raises(CommandError, match="exists"):
        call_command("backup", str(archive))

    empty_the_site(settings, tmp_path)
    assert not Image.objects.exists()
    out = io.StringIO()
    call_command("restore", str(archive), stdout=out)
    assert "Restored 1 images" in out.getvalue()

    restored = Image.objects.get()
    assert (restored.pk, restored.title, restored.tag_names()) == (image.pk, "lighthouse at dusk", ["coast"])
    assert (tmp_path / "fresh-media" / restored.original.name).is_file()
    assert api_client().get(f"/media/images/{restored.pk}/original").status_code == 200
    assert api_client().get(f"/media/images/{restored.pk}/thumbnail.webp").status_code == 200
    found = api_client().get("/api/search/", {"q": "lighthouse", "mode": "text"}).json()["results"]
    assert [r["id"] for r in found] == [restored.pk]
    vector = vector_of(restored)
    store = index.embedding_store(model_of(restored), len(vector))
    assert list(stored_vectors(store, [restored.pk])) == [restored.pk]  # rebuilt, not re-encoded


def test_restore_refuses_a_site_that_is_not_empty(tmp_path):
    make_user("alice")
    archive = tmp_path / "site.tar.gz"
    call_command("backup", str(archive), stdout=io.StringIO())
    with pytest.raises(CommandError, match="empty DATA_DIR"):
        call_command("restore", str(archive))


def test_restore_refuses_an_archive_that_writes_outside_itself(tmp_path):
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        data = b"x"
        member = tarfile.TarInfo("../../escaped.txt")
        member.size = len(data)
        tar.addfile(member, io.BytesIO(data))
    with pytest.raises(CommandError, match="outside itself"):
        call_command("restore", str(archive))
    assert not (tmp_path.parent.parent / "escaped.txt").exists()


def test_the_trash_travels_with_a_backup(clean_index, settings, tmp_path):
    alice = make_user("alice")
    kept, trashed = make_image(alice, title="kept"), make_image(alice, "square", title="in the trash")
    index_images(kept, trashed)
    trash.move_to_trash([trashed], alice)
    archive = tmp_path / "site.tar.gz"
    call_command("backup", str(archive), stdout=io.StringIO())

    empty_the_site(settings, tmp_path)
    call_command("restore", str(archive), stdout=io.StringIO())
    back = Image.all_objects.get(pk=trashed.pk)
    assert back.trashed_at is not None and back.title == "in the trash"
    assert list(Image.objects.values_list("pk", flat=True)) == [kept.pk]
    vector = vector_of(back)
    store = index.embedding_store(model_of(back), len(vector))
    assert store.ids() == {kept.pk}  # the trash is not published by the restore's reconcile
    assert (tmp_path / "fresh-media" / back.original.name).is_file()  # restorable: its files came too
