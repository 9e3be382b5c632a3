"""Pages: gallery, upload, image detail."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponseForbidden
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from . import services
from .filters import filter_images
from .models import Image
from .validation import InvalidImage

GALLERY_PAGE_SIZE = 48


def gallery(request):
    images = Image.objects.visible_to(request.user).select_related("owner")
    try:
        images = filter_images(images, request.GET, request.user)
    except InvalidImage as exc:
        messages.error(request, str(exc))
    page = Paginator(images, GALLERY_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "ingestion/gallery.html", {"page": page, "mine": request.GET.get("owner") == "me"})


@login_required
def upload(request):
    if request.method == "POST":
        files = request.FILES.getlist("files")
        if not files:
            messages.error(request, "Choose one or more image files to upload.")
            return redirect("upload")
        try:
            tags = services.parse_tags(request.POST.get("tags", ""))
            visibility = services.parse_visibility(request.POST.get("visibility"))
        except InvalidImage as exc:
            messages.error(request, str(exc))
            return redirect("upload")
        created = 0
        for upload_file in files[: settings.MAX_FILES_PER_UPLOAD]:
            try:
                services.create_from_upload(
                    request.user,
                    upload_file,
                    upload_file.name,
                    tags=tags,
                    visibility=visibility,
                    title=request.POST.get("title", "") if len(files) == 1 else "",
                )
                created += 1
            except InvalidImage as exc:
                messages.error(request, str(exc))
        if created:
            messages.success(request, f"Uploaded {created} image(s); they are being indexed.")
        return redirect(f"{_gallery_url()}?owner=me" if created else "upload")
    return render(
        request,
        "ingestion/upload.html",
        {"max_mb": settings.MAX_UPLOAD_BYTES // (1024 * 1024), "max_files": settings.MAX_FILES_PER_UPLOAD},
    )


def _gallery_url() -> str:
    from django.urls import reverse

    return reverse("gallery")


def detail(request, pk: int):
    from search.duplicates import SIMILAR, find_duplicates
    from search.queries import BadQuery, QueryUnavailable
    from search.service import SearchParams, similar_to
    from search.vector_store import VectorStoreError

    image = get_object_or_404(Image.objects.visible_to(request.user).select_related("owner"), pk=pk)
    similar, duplicates, similar_error = [], [], ""
    if image.status == Image.Status.INDEXED:
        try:
            duplicates = [d for d in find_duplicates(image, request.user) if d.kind != SIMILAR][:12]
            similar = similar_to(image, request.user, SearchParams(limit=12))
        except (BadQuery, QueryUnavailable) as exc:
            similar_error = str(exc)
        except VectorStoreError as exc:
            similar_error = f"The search index is unavailable: {exc}"
    context = {
        "image": image,
        "similar": similar,
        "duplicates": duplicates,
        "similar_error": similar_error,
        "can_edit": image.editable_by(request.user),
    }
    return render(request, "ingestion/detail.html", context)


@login_required
@require_POST
def edit(request, pk: int):
    image = get_object_or_404(Image.objects.visible_to(request.user), pk=pk)
    if not image.editable_by(request.user):
        return HttpResponseForbidden("Only the owner can edit this image.")
    try:
        services.update_image(
            image,
            title=request.POST.get("title", image.title),
            tags=request.POST.get("tags", ""),
            visibility=request.POST.get("visibility", image.visibility),
        )
        messages.success(request, "Saved.")
    except InvalidImage as exc:
        messages.error(request, str(exc))
    return redirect(image.get_absolute_url())


@login_required
@require_POST
def delete(request, pk: int):
    # Others' private images are a 404, as everywhere else: their existence is not confirmed.
    image = get_object_or_404(Image.objects.visible_to(request.user), pk=pk)
    if not image.editable_by(request.user):
        return HttpResponseForbidden("Only the owner can delete this image.")
    image.delete()
    messages.success(request, "Image deleted.")
    return redirect("gallery")
