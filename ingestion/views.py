"""Pages: gallery (a timeline with filters, sort and bulk actions), upload, edit, delete. Input goes
through `ingestion.forms` as in the API; errors not handled here are shown by the site's error page
(`webapp.errors`)."""

from __future__ import annotations

from itertools import groupby

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count, F
from django.db.models.functions import Coalesce, TruncMonth
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from core.errors import BadInput

from . import services, trash
from .access import get_image_for_user, visible_images
from .forms import SORTS, BulkForm, GalleryForm, ImageEditForm, UploadPageForm
from .intake import DuplicateUpload, Intake, Source
from .models import Tag
from .validation import InvalidImage, check_request_size

GALLERY_PAGE_SIZE = 48


def gallery(request):
    form = GalleryForm(request.GET, user=request.user)
    filters = form.cleaned()
    descending = filters["sort"] == "newest"
    # The timeline's date: when the picture was taken, else when it was uploaded.
    moment = Coalesce("taken_at", "created_at")
    images = (
        form.listing()
        .annotate(moment=moment, month=TruncMonth(moment))
        .order_by(F("moment").desc() if descending else F("moment").asc(), SORTS[filters["sort"]][1])
    )
    page = Paginator(images, GALLERY_PAGE_SIZE).get_page(request.GET.get("page"))
    kept = request.GET.copy()
    kept.pop("page", None)  # the pager keeps every filter, and only replaces the page
    months = [(month, list(items)) for month, items in groupby(page.object_list, key=lambda i: i.month)]
    context = {
        "page": page,
        "months": months,
        "timeline": _timeline(images, descending, page.number, kept.urlencode()),
        "mine": request.GET.get("owner") == "me",
        "filters_query": kept.urlencode(),
        "filters": {name: request.GET.get(name, "") for name in form.fields},
        "active_filters": sum(1 for name in form.fields if name != "sort" and request.GET.get(name)),
        "bulk_ok": request.user.is_authenticated,
    }
    return render(request, "ingestion/gallery.html", context)


def _timeline(images, descending: bool, current: int, filters_query: str) -> list[dict]:
    """Every month of the filtered gallery, not only this page's, as the jump list shows them:
    its name, how many images and where it starts (the page and the month's heading there)."""
    counts = images.order_by().values("month").annotate(n=Count("pk", distinct=True))
    counts = counts.order_by("-month" if descending else "month")
    entries, before = [], 0
    for row in counts:
        if row["month"] is None:
            continue
        number = before // GALLERY_PAGE_SIZE + 1
        anchor = f"#month-{row['month']:%Y-%m}"
        prefix = f"?{filters_query}&page={number}" if filters_query else f"?page={number}"
        href = anchor if number == current else prefix + anchor
        entries.append({"month": row["month"], "count": row["n"], "href": href})
        before += row["n"]
    return entries


def _back_to(request, fallback: str) -> str:
    """Where a form posted from a listing returns: its own `next`, if it is on this site."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return fallback


@login_required
@require_POST
def bulk(request):
    """Tag, re-tag, change visibility or delete the picked images. Only the caller's own images are
    touched (staff may touch any they can see); the rest are counted and reported."""
    back = _back_to(request, reverse("gallery"))
    try:
        action = BulkForm(request.POST).cleaned()
    except BadInput as exc:
        messages.error(request, str(exc))
        return redirect(back)
    picked = visible_images(request.user).filter(pk__in=action["ids"])
    own = [image for image in picked if image.editable_by(request.user)]
    skipped = len(action["ids"]) - len(own)
    verb = action["action"]
    with transaction.atomic():
        if verb == "delete":
            trash.move_to_trash(own, request.user)
        elif verb in ("public", "private"):
            for image in own:
                services.update_image(image, visibility=verb)
        else:
            tags = [Tag.objects.get_or_create(name=name)[0] for name in action["tags"]]
            for image in own:
                if verb == "add_tags":
                    image.tags.add(*tags)
                else:
                    image.tags.remove(*tags)
    n = len(own)
    done = {
        "delete": ngettext("Moved %(n)d image to the trash.", "Moved %(n)d images to the trash.", n),
        "public": ngettext("Made %(n)d image public.", "Made %(n)d images public.", n),
        "private": ngettext("Made %(n)d image private.", "Made %(n)d images private.", n),
        "add_tags": ngettext("Tagged %(n)d image.", "Tagged %(n)d images.", n),
        "remove_tags": ngettext("Removed tags from %(n)d image.", "Removed tags from %(n)d images.", n),
    }[verb]
    messages.success(request, done % {"n": n})
    if skipped:
        messages.warning(
            request,
            ngettext(
                "%(n)d selected image is not yours and was left unchanged.",
                "%(n)d selected images are not yours and were left unchanged.",
                skipped,
            )
            % {"n": skipped},
        )
    return redirect(back)


@login_required
def upload(request):
    """The page: a drop zone whose script posts each file to `POST /api/images/`. Without
    JavaScript the form posts here, and the files are stored one by one through the same
    `services.create_image` (a copy the uploader has is refused unless the box says otherwise)."""
    if request.method != "POST":
        limits = {
            "max_mb": settings.MAX_UPLOAD_BYTES // (1024 * 1024),
            "max_files": settings.MAX_FILES_PER_UPLOAD,
            "max_bytes": settings.MAX_UPLOAD_BYTES,
        }
        return render(request, "ingestion/upload.html", limits)
    check_request_size(request, files=settings.MAX_FILES_PER_UPLOAD)
    files = request.FILES.getlist("files")
    try:
        if not files:
            raise BadInput("Choose one or more image files to upload.")
        if len(files) > settings.MAX_FILES_PER_UPLOAD:
            raise BadInput(
                f"{len(files)} files chosen; without JavaScript at most {settings.MAX_FILES_PER_UPLOAD} "
                "can be sent at once."
            )
        fields = UploadPageForm(request.POST).cleaned()
    except BadInput as exc:
        messages.error(request, str(exc))
        return redirect("upload")
    if len(files) > 1:
        fields["title"] = ""  # one title cannot describe many files
    created = 0
    for upload_file in files:
        try:
            intake = Intake.from_form(request.user, upload_file, upload_file.name, fields, Source.PAGE)
            services.create_image(intake)
            created += 1
        except InvalidImage as exc:
            messages.error(request, str(exc))
        except DuplicateUpload as refusal:
            messages.error(request, _duplicate_message(upload_file.name, refusal))
    if not created:
        return redirect("upload")
    messages.success(
        request,
        ngettext(
            "Uploaded %(n)d image; it is being indexed.",
            "Uploaded %(n)d images; they are being indexed.",
            created,
        )
        % {"n": created},
    )
    return redirect(f"{reverse('gallery')}?owner=me")


def _duplicate_message(name: str, refusal: DuplicateUpload) -> str:
    """The page's words for the refusal the API answers with a 409 (same rule, same image)."""
    if refusal.in_trash:
        text = _(
            "%(name)s is in your trash as #%(pk)d: restore it from the trash, or tick "
            "“Upload even if I already have it” to upload it as a new image."
        )
    else:
        text = _(
            "%(name)s is already in your library as #%(pk)d, so it was not uploaded again; tick "
            "“Upload even if I already have it” to keep another copy."
        )
    return text % {"name": name, "pk": refusal.existing_id}


def _wants_json(request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


@login_required
@require_POST
def edit(request, pk: int):
    """Each field is parsed on its own: the valid ones are saved, the others are explained (by
    field, as JSON for the page's script) and the visitor's input is left where it was."""
    image = get_image_for_user(request.user, pk, write=True)
    changes, problems = {}, {}
    for name in ImageEditForm.base_fields:
        if name not in request.POST:
            continue
        try:
            changes.update(ImageEditForm({name: request.POST[name]}).given())
        except BadInput as exc:
            problems[name] = str(exc)
    if changes:
        services.update_image(image, **changes)
        image.refresh_from_db()
    if _wants_json(request):
        body = {
            "saved": sorted(changes),
            "errors": problems,
            "title": image.display_title,
            "tags": image.tag_names(),
            "visibility": image.visibility,
        }
        return JsonResponse(body)
    if changes:
        fields = _(", ").join(_(name) for name in sorted(changes))  # title, tags, visibility: catalogued
        messages.success(request, _("Saved %(fields)s.") % {"fields": fields})
    for problem in problems.values():
        messages.error(request, problem)
    return redirect(image.get_absolute_url())


@login_required
@require_POST
def delete(request, pk: int):
    image = get_image_for_user(request.user, pk, write=True, action="delete")
    trash.move_to_trash([image], request.user)
    messages.success(
        request,
        ngettext(
            "Moved to the trash: you can restore it for %(n)d day.",
            "Moved to the trash: you can restore it for %(n)d days.",
            settings.TRASH_DAYS,
        )
        % {"n": settings.TRASH_DAYS},
    )
    return redirect(_back_to(request, reverse("gallery")))
