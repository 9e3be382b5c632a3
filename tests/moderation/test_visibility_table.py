"""The README's visibility table, as a test: who sees what (owner, other user, anonymous,
moderator, superuser x public, private, hidden public, hidden private), tried on EVERY URL pattern
that takes an image id. The patterns come from the URLconf, so a new endpoint fails this test until
it is classified below (and so checked)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from bench.images import encode, photo
from ingestion import trash
from ingestion.models import Image
from ingestion.renditions import NAMES
from moderation import withholding
from moderation.models import Group, GroupMember, Hold
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db

ROLES = ("owner", "other", "anonymous", "moderator", "superuser")
STATES = ("public", "private", "hidden_public", "hidden_private")

# Who sees an image in each state (its page, files, JSON, neighbours).
SEES = {
    "owner": {"public", "private", "hidden_public", "hidden_private"},
    "other": {"public"},
    "anonymous": {"public"},
    "moderator": {"public", "hidden_public"},
    "superuser": {"public", "hidden_public"},
}

# Every URL name whose route takes an image id, by how it is tried.
READ = {  # GET: 200 for those who see it, else the same 404 as a missing id
    "image-detail",
    "api-image",
    "image-file",
    "image-thumbnail",
    "api-similar",
    "api-duplicates",
}
WRITE = {  # POST/PATCH: whoever cannot see the image learns nothing (404; signed out: sign in)
    "image-edit": "post",
    "image-delete": "post",
    "image-request-review": "post",
    "api-image-request-review": "post",
}
REVIEW = {"moderation-thumbnail", "moderation-original"}  # moderators, while the image is in an open group
# Moderators only (403 for everyone else, whatever the id); a moderator who may not see the image
# gets the same 404 as a missing id.
MODERATOR_WRITE = {"moderation-ban": "post"}
# The trash's doors (issue 17, undo), tried on trashed images: the owner's always; moderators' for
# what a moderation resolve trashed (the picture only of public ones); nobody else's.
TRASH_READ = {"api-trash-item", "trash-thumbnail"}
TRASH_WRITE = {"api-image-restore": "post", "trash-restore": "post", "trash-delete": "post"}


ID_DOORS = ("images", "trash")


def image_routes() -> dict[str, str]:
    """{url name: route} of every pattern whose route names an image by id."""
    found: dict[str, str] = {}

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and any(f"{d}/<int:pk>" in route for d in ID_DOORS):
                found[pattern.name] = route

    walk(get_resolver().url_patterns, "")
    return found


def test_every_image_url_is_classified():
    classified = READ | set(WRITE) | REVIEW | set(MODERATOR_WRITE) | TRASH_READ | set(TRASH_WRITE)
    assert set(image_routes()) == classified


@pytest.fixture
def world(upload):
    """Alice's image in each state, and a client for each role."""
    alice = make_user("alice")
    mod = make_user("mod")
    from django.contrib.auth.models import Group as AuthGroup

    mod.groups.add(AuthGroup.objects.get_or_create(name="moderators")[0])
    root = get_user_model().objects.create_superuser("root", password=PASSWORD)
    images = {}
    for seed, state in enumerate(STATES, start=80):
        image = upload(alice, encode(photo(seed)), title=f"table {state}", visibility=state.split("_")[-1])
        if state.startswith("hidden"):
            # As a moderator's decision does: the database and Milvus's public flag.
            withholding.hold(image, Hold.Cause.DECISION, "withheld")
        images[state] = image
    users = {
        "owner": alice,
        "other": make_user("bob"),
        "anonymous": None,
        "moderator": mod,
        "superuser": root,
    }
    clients = {}
    for role, user in users.items():
        client = Client()
        if user is not None:
            client.login(username=user.username, password=PASSWORD)
        clients[role] = client
    return images, clients


def get(client: Client, name: str, pk: int, query: str = ""):
    return client.get(reverse(name, args=[pk]) + query, HTTP_ACCEPT="application/json")


@pytest.mark.parametrize("role", ROLES)
def test_the_visibility_table_on_every_door(world, role):
    images, clients = world
    client = clients[role]
    for state, image in images.items():
        sees = state in SEES[role]
        for name in READ:
            queries = [f"?size={size}" for size in NAMES] + [""] if name == "image-thumbnail" else [""]
            for query in queries:
                status = get(client, name, image.pk, query).status_code
                assert status == (200 if sees else 404), (role, state, name, query, status)
        for name, method in WRITE.items():
            if sees:
                continue  # what the owner (or staff) may change is tested with each view
            status = getattr(client, method)(reverse(name, args=[image.pk])).status_code
            expected = {302, 401, 403} if role == "anonymous" else {404}
            assert status in expected, (role, state, name, status)
        for name, method in MODERATOR_WRITE.items():
            moderator = role in ("moderator", "superuser")
            if sees and moderator:
                continue  # a real ban: tested with the view (tests/moderation/test_desk.py)
            status = getattr(client, method)(reverse(name, args=[image.pk])).status_code
            expected = {302} if role == "anonymous" else {404} if moderator else {403}
            assert status in expected, (role, state, name, status)
        for name in REVIEW:  # in no group: nobody, moderators included
            assert get(client, name, image.pk).status_code in {403, 404}, (role, state, name)
        # Search doors that take an image id in the query.
        similar = client.get("/search/", {"similar": image.pk}).status_code
        assert (similar == 200) == sees, (role, state, "search similar", similar)
        terms = client.get("/api/search/", {"q": f"image:{image.pk}"}, HTTP_ACCEPT="application/json")
        assert (terms.status_code == 200) == sees, (role, state, "image: term", terms.status_code)


@pytest.mark.parametrize("role", ROLES)
def test_listings_show_what_everyone_sees_plus_your_own(world, role):
    images, clients = world
    client = clients[role]
    listed = {i["id"] for i in client.get("/api/images/").json()["results"]}
    expected = set(images.values()) if role == "owner" else {images["public"]}
    assert listed == {i.pk for i in expected}, role
    found = client.get("/api/search/", {"q": "table", "mode": "text"}).json()["results"]
    assert {r["id"] for r in found} == {i.pk for i in expected if i.status == "indexed"}, role
    hidden = {i["id"] for i in client.get("/api/images/", {"moderation": "hidden"}).json()["results"]}
    expected_hidden = {
        "owner": {images["hidden_public"].pk, images["hidden_private"].pk},
        "moderator": {images["hidden_public"].pk},
        "superuser": {images["hidden_public"].pk},
    }.get(role, set())
    assert hidden == expected_hidden, role


@pytest.mark.parametrize("role", ROLES)
def test_review_urls_open_only_to_moderators_and_only_while_the_group_is_open(world, role):
    images, clients = world
    client = clients[role]
    group = Group.objects.create(kind=Group.Kind.BANNED, size=1)
    for image in images.values():
        GroupMember.objects.create(group=group, image=image)
    moderator = role in ("moderator", "superuser")
    for image in images.values():
        for name in REVIEW:
            status = get(client, name, image.pk).status_code
            assert (status == 200) == moderator, (role, name, status)
    Group.objects.filter(pk=group.pk).update(status=Group.Status.RESOLVED)
    for image in images.values():
        for name in REVIEW:
            assert get(client, name, image.pk).status_code != 200, (role, name)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("mode", ["text", "semantic", "hybrid"])
def test_search_among_withheld_images_is_theirs_and_moderators_only(workers, world, role, mode):
    images, clients = world
    found = clients[role].get("/api/search/", {"q": "table", "mode": mode, "moderation": "hidden"})
    assert found.status_code == 200, found.content
    ids = {r["id"] for r in found.json()["results"]}
    expected = {
        "owner": {images["hidden_public"].pk, images["hidden_private"].pk},
        "moderator": {images["hidden_public"].pk},
        "superuser": {images["hidden_public"].pk},
    }.get(role, set())
    # The vector side ranks every candidate it may (no min score): exactly the withheld ones.
    assert ids == expected, (role, mode)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("origin", ["delete", "moderation"])
def test_the_trash_doors(world, role, origin):
    """Every image door is a 404 for a trashed image, to its owner too; the trash's doors open to
    the owner, and to moderators for what moderation trashed (never a private picture)."""
    images, clients = world
    client = clients[role]
    moderator = role in ("moderator", "superuser")
    for image in images.values():
        trash.move_to_trash([image], None, origin)
    for state, image in images.items():
        for name in READ:
            assert get(client, name, image.pk).status_code == 404, (role, state, name)
        acts = role == "owner" or (moderator and origin == "moderation")
        item = get(client, "api-trash-item", image.pk).status_code
        assert item == (200 if acts else 401 if role == "anonymous" else 404), (role, state, item)
        pictured = role == "owner" or (acts and state.endswith("public"))
        thumb = get(client, "trash-thumbnail", image.pk).status_code
        assert thumb == (200 if pictured else 404), (role, state, thumb)
        if acts:
            continue  # restore, delete forever: tests/ingestion/test_trash.py, tests/moderation/test_trash.py
        for name, method in TRASH_WRITE.items():
            status = getattr(client, method)(reverse(name, args=[image.pk])).status_code
            expected = {302, 401, 403} if role == "anonymous" else {404}
            assert status in expected, (role, state, name, status)
        assert Image.all_objects.get(pk=image.pk).trashed_at is not None
