"""The image page's route is ingestion's: `image-detail` (`/images/<id>/`) is what
`Image.get_absolute_url`, the image JSON's `page_url` and an upload's 409 link to, so every URL
name ingestion reverses is its own. What the page shows beyond the image (its duplicates and
similar images) is search's, so the search app provides the view in `SearchConfig.ready()`, as
it connects ingestion's signals there: the route points down to ingestion, the view is handed
down from above, and no import runs upward (`tests/test_url_direction.py` checks the names)."""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse

ImageView = Callable[[HttpRequest, int], HttpResponse]

_provided: dict[str, ImageView] = {}


def provide(view: ImageView) -> None:
    """Called once by the app that draws the page (search), from its `AppConfig.ready()`."""
    _provided["view"] = view


def image_page(request: HttpRequest, pk: int) -> HttpResponse:
    view = _provided.get("view")
    if view is None:  # a deployment without the search app: a configuration error, said plainly
        raise ImproperlyConfigured("No installed app provides the image page (search does, in its ready()).")
    return view(request, pk)
