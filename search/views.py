"""Pages: the search page (by words, by example image, similar to an image) and the image page with
its duplicates and similar images. Input goes through `search.forms`, as in the API."""

from __future__ import annotations

from django.http import FileResponse, Http404, HttpResponseRedirect
from django.shortcuts import render
from django.utils.translation import gettext, gettext_noop
from django.views.decorators.http import require_GET

from core.errors import UserFacingError
from ingestion.access import get_image_for_user
from ingestion.models import Image

from .forms import SearchPageForm, example_image
from .pipeline import labels
from .query import copies, examples, regions
from .query.duplicates import SIMILAR, find_duplicates
from .query.query_language import Query
from .query.service import MODES, SearchParams, answer, similar_to

DETAIL_NEIGHBOURS = 12
# What a result's badges call the signals that found it (the template translates them by name).
MATCH_NAMES = (
    gettext_noop("semantic"),
    gettext_noop("ocr"),
    gettext_noop("tags"),
    gettext_noop("title"),
    gettext_noop("filename"),
)


def search_page(request):
    if request.method == "POST":
        return post_example(request)
    form = SearchPageForm(request.GET, user=request.user)
    context = {
        "q": request.GET.get("q", ""),
        "results": None,
        "error": "",
        "source": None,
        "kind": "text",
        "words": [],
        "modes": MODES,
        "example": "",
    }
    status = 200
    try:
        params = form.params()
        context["active_filters"] = active_filters(request)
        context.update(q=form.text(), min_score=params.min_score, sort=params.sort, mode=params.mode)
        similar = form.cleaned()["similar"]
        if "example" in request.GET:
            token = request.GET["example"]
            image = examples.load(request, token)
            context.update(kind="image", example=token)
            query = form.query(example=True)
            found = answer(query or Query(()), request.user, params, example=image)
            context.update(results=found.results, notes=found.notes)
        elif similar:
            context["kind"] = "similar"
            context["source"] = get_image_for_user(request.user, similar)
            context["region"] = region = regions.requested_region(request.GET, similar)
            context["results"] = regions.similar_results(context["source"], region, request.user, params)
        elif "region" in request.GET:
            regions.requested_region(request.GET, similar)  # a region without similar=: a 400
        elif context["q"] or form.feedback_terms():
            query = form.query()
            context["words"] = query.highlight_words()
            context["q"] = str(query)
            found = answer(query, request.user, params)
            context.update(results=found.results, notes=found.notes)
        elif "q" in request.GET:
            form.required_text()
        context["items"] = result_items(request, context)
        if context["results"] and len(context["results"]) >= params.limit:
            following = request.GET.copy()
            following["offset"] = params.offset + params.limit
            context["next_url"] = f"?{following.urlencode()}"
    except UserFacingError as exc:
        # Shown beside the search forms, so the visitor can correct the query in place.
        context["error"], status = exc.public_message, exc.status_code
    return render(request, "search/search.html", context, status=status)


def post_example(request):
    """Search by image: keep the reduced example, then redirect to its results URL (filters from
    the form's query string, the added words from the form), so a reload sends nothing again."""
    try:
        text = SearchPageForm(request.POST, user=request.user).text()
        image = example_image(request, "Choose an example image to search with.")
    except UserFacingError as exc:
        context = {"q": request.POST.get("q", ""), "results": None, "error": exc.public_message}
        context.update(source=None, kind="image", words=[], modes=MODES, example="", items=[])
        return render(request, "search/search.html", context, status=exc.status_code)
    following = request.GET.copy()
    for name in ("offset", "similar", "more", "less", "example"):
        following.pop(name, None)
    following["example"] = examples.keep(request, image)
    if text:
        following["q"] = text
    else:
        following.pop("q", None)
    # 303: the browser follows with a GET, and a reload repeats the GET, not the upload.
    response = HttpResponseRedirect(f"{request.path}?{following.urlencode()}")
    response.status_code = 303
    return response


@require_GET
def example_preview(request, token: str):
    """The example image of one of this session's searches (the page previews it)."""
    try:
        data = examples.load(request, token)
    except UserFacingError:
        raise Http404("No such example.") from None
    response = FileResponse(iter([data]), content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"
    return response


# The search parameters the filter panel sets, each with how its chip reads (value -> label).
FILTER_LABELS = {
    "mode": lambda v: f"Mode: {v}",
    "min_score": lambda v: f"Score ≥ {v}",
    "sort": lambda v: "Newest first" if v == "date" else "",
    "created_after": lambda v: f"From {v}",
    "created_before": lambda v: f"To {v}",
    "tags": lambda v: f"Tags: {v}",
    "has_text": lambda v: "Has text" if v.lower() in ("true", "1", "yes", "on") else "No text",
    "label": lambda v: gettext("Label: %(name)s") % {"name": labels.display_name(v)},
    "moderation": lambda v: "Withheld only",
    "owner": lambda v: "Only mine" if v == "me" else f"Owner: {v}",
    "visibility": lambda v: f"Only {v}",
    "collapse": lambda v: "Copies shown one by one" if v.lower() in ("false", "0", "no", "off") else "",
}


def active_filters(request) -> list[dict]:
    """The filters in the address, each as a chip: its label and the address without it (the
    page's first results). Only reached once the form accepted them, so each value is valid."""
    chips = []
    for name, label in FILTER_LABELS.items():
        value = request.GET.get(name, "").strip()
        text = label(value) if value else ""
        if not text or (name == "mode" and value == "hybrid"):
            continue
        rest = request.GET.copy()
        for gone in (name, "offset"):
            rest.pop(gone, None)
        chips.append({"name": name, "label": text, "remove": f"?{rest.urlencode()}"})
    return chips


def result_items(request, context: dict) -> list[dict]:
    """Each result with its relevance feedback links: the search again with `+ image:ID` ("more
    like this") or `- image:ID` ("less like this") added to the query, filters kept."""
    if not context["results"]:
        return []
    # Words, or the words added to an example image (whose token stays in the links).
    base = f"image:{context['source'].pk}" if context["kind"] == "similar" else context["q"]
    following = request.GET.copy()
    for name in ("offset", "similar", "more", "less", "region"):
        following.pop(name, None)
    if following.get("mode") == "text":
        following["mode"] = "hybrid"  # example images need the vector side
    items: list[dict] = []
    for result in context["results"]:
        pk = result.image.pk
        following["q"] = f"{base} + image:{pk}" if base else f"image:{pk}"
        item = {"r": result, "more": f"?{following.urlencode()}", "less": ""}
        if base or context["kind"] == "image":
            following["q"] = f"{base} - image:{pk}".strip()
            item["less"] = f"?{following.urlencode()}"
        items.append(item)
    return items


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
        "semantic_off": copies.semantic_off_reason(),
        "similar_error": similar_error,
        "can_edit": image.editable_by(request.user),
    }
    return render(request, "search/image.html", context)
