"""Pages: the search page (by words, by example image, similar to an image) and the image page with
its duplicates and similar images. Input goes through `search.forms`, as in the API."""

from __future__ import annotations

from django.shortcuts import render

from core.errors import UserFacingError
from ingestion.access import get_image_for_user
from ingestion.models import Image

from . import queries
from .duplicates import SIMILAR, find_duplicates
from .forms import SearchPageForm, example_image
from .service import SearchParams, run_search, similar_to

DETAIL_NEIGHBOURS = 12


def search_page(request):
    form = SearchPageForm(request.GET, user=request.user)
    context = {"q": request.GET.get("q", ""), "results": None, "error": "", "source": None, "mode": "text"}
    status = 200
    try:
        params = form.params()
        context.update(q=form.text(), min_score=params.min_score, sort=params.sort)
        similar = form.cleaned()["similar"]
        if request.method == "POST":
            text = SearchPageForm(request.POST, user=request.user).text()
            context.update(mode="image", q=text)
            query = queries.image_query(
                example_image(request, "Choose an example image to search with."), text
            )
            context["results"] = run_search(query, request.user, params)
        elif similar:
            context["mode"] = "similar"
            context["source"] = get_image_for_user(request.user, similar)
            context["results"] = similar_to(context["source"], request.user, params)
        elif context["q"]:
            context["results"] = run_search(queries.embed_text(context["q"]), request.user, params)
        elif "q" in request.GET:
            form.required_text()
        if context["mode"] != "image" and context["results"] and len(context["results"]) >= params.limit:
            following = request.GET.copy()
            following["offset"] = params.offset + params.limit
            context["next_url"] = f"?{following.urlencode()}"
    except UserFacingError as exc:
        # Shown beside the search forms, so the visitor can correct the query in place.
        context["error"], status = exc.public_message, exc.status_code
    return render(request, "search/search.html", context, status=status)


def image_page(request, pk: int):
    image = get_image_for_user(request.user, pk)
    similar, duplicates, similar_error = [], [], ""
    if image.status == Image.Status.INDEXED:
        try:
            found = find_duplicates(image, request.user)
            duplicates = [d for d in found if d.kind != SIMILAR][:DETAIL_NEIGHBOURS]
            similar = similar_to(image, request.user, SearchParams(limit=DETAIL_NEIGHBOURS))
        except UserFacingError as exc:
            # The image itself is still worth showing when its neighbours cannot be found.
            similar_error = exc.public_message
    context = {
        "image": image,
        "similar": similar,
        "duplicates": duplicates,
        "similar_error": similar_error,
        "can_edit": image.editable_by(request.user),
    }
    return render(request, "search/image.html", context)
