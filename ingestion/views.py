"""Pages: gallery, upload, edit, delete. Input goes through `ingestion.forms` as in the API; errors
not handled here are shown by the site's error page (`webapp.errors`)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from core.errors import BadInput

from . import services
from .access import get_image_for_user, visible_images
from .forms import ImageEditForm, ImageFieldsForm, ImageListForm
from .validation import InvalidImage, check_request_size

GALLERY_PAGE_SIZE = 48


def gallery(request):
    filters = ImageListForm(request.GET, user=request.user)
    images = filters.apply(visible_images(request.user))
    page = Paginator(images, GALLERY_PAGE_SIZE).get_page(request.GET.get("page"))
    kept = request.GET.copy()
    kept.pop("page", None)  # the pager keeps every filter, and only replaces the page
    context = {"page": page, "mine": request.GET.get("owner") == "me", "filters_query": kept.urlencode()}
    return render(request, "ingestion/gallery.html", context)


@login_required
def upload(request):
    if request.method != "POST":
        limits = {
            "max_mb": settings.MAX_UPLOAD_BYTES // (1024 * 1024),
            "max_files": settings.MAX_FILES_PER_UPLOAD,
        }
        return render(request, "ingestion/upload.html", limits)
    check_request_size(request, files=settings.MAX_FILES_PER_UPLOAD)
    files = request.FILES.getlist("files")
    try:
        if not files:
            raise BadInput("Choose one or more image files to upload.")
        fields = ImageFieldsForm(request.POST).cleaned()
    except BadInput as exc:
        messages.error(request, str(exc))
        return redirect("upload")
    if len(files) > 1:
        fields["title"] = ""  # one title cannot describe many files
    created = 0
    for upload_file in files:
        try:
            services.create_from_upload(request.user, upload_file, upload_file.name, **fields)
            created += 1
        except InvalidImage as exc:
            messages.error(request, str(exc))
    if not created:
        return redirect("upload")
    messages.success(request, f"Uploaded {created} image(s); they are being indexed.")
    return redirect(f"{reverse('gallery')}?owner=me")


@login_required
@require_POST
def edit(request, pk: int):
    image = get_image_for_user(request.user, pk, write=True)
    try:
        services.update_image(image, **ImageEditForm(request.POST).given())
        messages.success(request, "Saved.")
    except BadInput as exc:
        messages.error(request, str(exc))
    return redirect(image.get_absolute_url())


@login_required
@require_POST
def delete(request, pk: int):
    get_image_for_user(request.user, pk, write=True, action="delete").delete()
    messages.success(request, "Image deleted.")
    return redirect("gallery")
