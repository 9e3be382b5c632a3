"""The trash pages: the viewer's trash (and, for moderators, what moderation resolves trashed),
restore, delete forever, empty, and the thumbnails the trash shows. Rules in `ingestion.trash`."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from core.errors import UserFacingError

from . import trash
from .access import is_moderator
from .media import _viewer

TRASH_PAGE_SIZE = 48


@login_required
@require_GET
def trash_page(request):
    moderation = trash.parse_scope(request.GET.get("scope"), request.user)
    scope = "moderation" if moderation else "mine"
    queryset = trash.trash_of(request.user, moderation=moderation)
    page = Paginator(queryset, TRASH_PAGE_SIZE).get_page(request.GET.get("page"))
    items = [
        {
            "image": image,
            "shows": trash.shows_content(image, request.user),
            "refusal": trash.restore_refusal(image, request.user),
            "purge_at": trash.purge_at(image),
        }
        for image in page.object_list
    ]
    context = {"page": page, "items": items, "scope": scope, "moderator": is_moderator(request.user)}
    return render(request, "ingestion/trash.html", context)


def _back(request) -> str:
    scope = request.POST.get("scope")
    return reverse("trash") + ("?scope=moderation" if scope == "moderation" else "")


@login_required
@require_POST
def restore(request, pk: int):
    image = trash.get_trashed(request.user, pk)
    try:
        trash.restore(image, request.user)
    except UserFacingError as exc:
        messages.error(request, exc.public_message)
        return redirect(_back(request))
    messages.success(request, _("Restored image %(pk)d.") % {"pk": pk})
    return redirect(_back(request))


@login_required
@require_POST
def delete(request, pk: int):
    trash.delete_forever(trash.get_trashed(request.user, pk), request.user)
    messages.success(request, _("Deleted image %(pk)d for good.") % {"pk": pk})
    return redirect(_back(request))


@login_required
@require_POST
def empty(request):
    deleted = trash.empty(request.user)
    messages.success(
        request,
        ngettext(
            "Emptied the trash: %(n)d image deleted for good.",
            "Emptied the trash: %(n)d images deleted for good.",
            deleted,
        )
        % {"n": deleted},
    )
    return redirect("trash")


@require_GET
def thumbnail(request, pk: int):
    """A trashed image's thumbnail: to its owner, and to moderators for the public images a
    moderation resolve trashed; everyone else gets the same 404 as a missing id."""
    viewer = _viewer(request)
    image = trash.get_trashed(viewer, pk)
    name = image.thumbnail.name
    if not trash.shows_content(image, viewer) or not name or not default_storage.exists(name):
        raise Http404("No such image in the trash.")
    response = FileResponse(default_storage.open(name, "rb"), content_type="image/webp")
    response["Cache-Control"] = "private, no-store"  # gone from here once restored or purged
    response["X-Content-Type-Options"] = "nosniff"
    return response
