"""Example images of searches by image, kept for a while so that such a search is a URL: the form
posts the image, the page redirects to `/search/?example=<token>&...`, and reloading, paging and
changing filters never send the upload again. A token is random and works only in the session that
uploaded it; the reduced image (what the query worker gets) is kept at most EXAMPLE_TTL seconds, and
all examples together stay within SEARCH_EXAMPLES_MAX_BYTES (the oldest go first): sessions cost
nothing to make, so the per-session cap alone does not bound the disk."""

from __future__ import annotations

import re
import secrets
import time

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from core.errors import BadInput

FOLDER = "search-examples"
EXAMPLE_TTL = 3600
PER_SESSION = 5  # the session's newest examples; older ones are deleted
SESSION_KEY = "search_examples"
TOKEN = re.compile(r"[A-Za-z0-9_-]{22}")
EXPIRED = "That example image is no longer kept (examples last an hour): choose it again."


def _name(token: str) -> str:
    return f"{FOLDER}/{token}.png"


def keep(request, data: bytes) -> str:
    """Store a reduced example for this session; its token."""
    sweep(room_for=len(data))
    token = secrets.token_urlsafe(16)
    default_storage.save(_name(token), ContentFile(data))
    tokens = [token, *request.session.get(SESSION_KEY, [])]
    for old in tokens[PER_SESSION:]:
        default_storage.delete(_name(old))
    request.session[SESSION_KEY] = tokens[:PER_SESSION]
    return token


def load(request, token: str) -> bytes:
    """The example behind a token of this session; BadInput when it is unknown or gone."""
    if not TOKEN.fullmatch(token or ""):
        raise BadInput("example must be the token of an example image.")
    if token not in request.session.get(SESSION_KEY, []) or not default_storage.exists(_name(token)):
        raise BadInput(EXPIRED)
    with default_storage.open(_name(token), "rb") as stored:
        return stored.read()


def sweep(now: float | None = None, room_for: int = 0) -> int:
    """Delete examples older than EXAMPLE_TTL, then the oldest of the others until `room_for` more
    bytes fit within SEARCH_EXAMPLES_MAX_BYTES; how many went."""
    if not default_storage.exists(FOLDER):
        return 0
    cutoff = (now or time.time()) - EXAMPLE_TTL
    gone = 0
    kept: list[tuple[float, int, str]] = []
    for name in default_storage.listdir(FOLDER)[1]:
        path = f"{FOLDER}/{name}"
        try:
            modified = default_storage.get_modified_time(path).timestamp()
            size = default_storage.size(path)
        except FileNotFoundError:
            continue  # another process swept it
        if modified < cutoff:
            default_storage.delete(path)
            gone += 1
        else:
            kept.append((modified, size, path))
    total = sum(size for _, size, _ in kept) + room_for
    for _, size, path in sorted(kept):  # oldest first
        if total <= settings.SEARCH_EXAMPLES_MAX_BYTES:
            break
        default_storage.delete(path)
        total -= size
        gone += 1
    return gone
