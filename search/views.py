"""The search page: text box, example-image upload, and "similar to" results."""

from __future__ import annotations

from django.shortcuts import get_object_or_404, render

from ingestion.models import Image
from ingestion.validation import InvalidImage, validate_upload

from . import queries
from .service import parse_params, run_search, similar_to
from .vector_store import VectorStoreError


def _similar(request, params):
    source = get_object_or_404(Image.objects.visible_to(request.user), pk=request.GET["similar"])
    return source, similar_to(source, request.user, params)


def _by_image(request, params, text: str):
    upload = request.FILES.get("image")
    if upload is None:
        raise queries.BadQuery("Choose an example image to search with.")
    parts = [queries.embed_image(validate_upload(upload, upload.name).data)]
    if text:
        parts.append(queries.embed_text(text))
    query = queries.combine(*parts) if len(parts) > 1 else parts[0]
    return run_search(query, request.user, params)


def search_page(request):
    text = " ".join((request.GET.get("q") or request.POST.get("q") or "").split())[:1000]
    context = {"q": text, "results": None, "error": "", "source": None, "mode": "text"}
    status = 200
    try:
        params = parse_params(request.GET, request.user)
        context["min_score"] = params.min_score
        context["sort"] = params.sort
        if request.method == "POST":
            context["mode"] = "image"
            context["results"] = _by_image(request, params, text)
        elif request.GET.get("similar"):
            context["mode"] = "similar"
            context["source"], context["results"] = _similar(request, params)
        elif text:
            context["results"] = run_search(queries.embed_text(text), request.user, params)
        elif "q" in request.GET:
            context["error"], status = "Type something to search for.", 400
        if context["mode"] != "image" and context["results"] and len(context["results"]) >= params.limit:
            following = request.GET.copy()
            following["offset"] = params.offset + params.limit
            context["next_url"] = f"?{following.urlencode()}"
    except (queries.BadQuery, InvalidImage, ValueError) as exc:
        context["error"], status = str(exc), 400
    except queries.QueryUnavailable as exc:
        context["error"], status = f"Search is unavailable right now: {exc}", 503
    except VectorStoreError as exc:
        context["error"], status = f"The search index is unavailable right now: {exc}", 503
    return render(request, "search/search.html", context, status=status)
