"""Facts other apps keep about an image, shown at ingestion's image API door.

The image JSON (the public contract) carries four fields that ingestion does not keep: the PDQ
hash and its quality, the model whose vector indexes the image, and the words read in it. Search
computes and stores them in its own tables; it hands ingestion a reader in `SearchConfig.ready()`,
as it hands down the image page's view (`ingestion.image_page`): no import runs upward, and one
query per reader answers a whole page of images.

Until a reader is provided (a deployment without search) the fields hold their empty values.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

# The fields, in the order the JSON gives them, with the value an image has before it is indexed.
EMPTY: dict[str, Any] = {"pdq_hash": "", "pdq_quality": None, "embedding_model": "", "ocr_text": ""}

# Given image ids, returns {id: {field: value}} for the images it knows (the others stay empty).
Reader = Callable[[Sequence[int]], dict[int, dict[str, Any]]]

_readers: dict[str, Reader] = {}


def provide(name: str, reader: Reader) -> None:
    """Called by the app that keeps some of the fields, from its `AppConfig.ready()`."""
    _readers[name] = reader


def of(image_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Every field of `EMPTY` for each image: one call per reader, whatever the number of images."""
    found = {pk: dict(EMPTY) for pk in image_ids}
    ids = [pk for pk in found if pk is not None]
    for reader in _readers.values():
        for pk, values in reader(ids).items():
            if pk in found:
                found[pk].update((k, v) for k, v in values.items() if k in EMPTY)
    return found
