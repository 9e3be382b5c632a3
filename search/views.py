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
            context["error"] = "Type something to search for."
    except (queries.BadQuery, InvalidImage, ValueError) as exc:
        context["error"] = str(exc)
    except queries.QueryUnavailable as exc:
        context["error"] = f"Search is unavailable right now: {exc}"
    except VectorStoreError as exc:
        context["error"] = f"The search index is unavailable right now: {exc}"
    status = 400 if context["error"] and "unavailable" not in context["error"] else 200
    if "unavailable" in context["error"]:
        status = 503
    return render(request, "search/search.html", context, status=status)
