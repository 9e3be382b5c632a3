"""Search API: by text, by example image (optionally with text), similar-to and duplicates-of an
image. Input is parsed by `search.forms`; errors are raised and mapped in `webapp.errors`."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view, parser_classes, permission_classes
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from ingestion.access import get_image_for_user

from .forms import MAX_OFFSET, SearchForm, example_image
from .pipeline import switching
from .query import copies
from .query.duplicates import find_duplicates
from .query.query_language import Query
from .query.regions import parse_region, similar_to_region
from .query.service import Note, Result, similar_to
from .query.service import answer as run_query
from .serializers import DuplicateSerializer, SearchResultSerializer, duplicates_json, results_json

RESULTS = inline_serializer(
    "SearchResults",
    {
        "results": SearchResultSerializer(many=True),
        "count": serializers.IntegerField(),
        "model": serializers.CharField(),
        "mode": serializers.CharField(),
        "query": serializers.CharField(),
        # How the query was read: "truncated" (longer than the model reads; it says where it was
        # cut) or "language" (a language the model cannot read; `model` is the one to choose).
        "notes": inline_serializer(
            "SearchNote",
            {
                "code": serializers.CharField(),
                "message": serializers.CharField(),
                "model": serializers.CharField(),
            },
            many=True,
        ),
    },
)
# The bounds the forms enforce, declared so that clients (and schema fuzzers) see them.
LIMIT = OpenApiParameter("limit", {"type": "integer", "minimum": 1, "maximum": settings.SEARCH_MAX_LIMIT})
MIN_SCORE = OpenApiParameter("min_score", {"type": "number", "minimum": -1, "maximum": 1})
FILTERS = [
    LIMIT,
    OpenApiParameter("offset", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET}),
    MIN_SCORE,
    OpenApiParameter("sort", str, enum=["relevance", "date"], description="date orders the whole result set"),
    OpenApiParameter("mode", str, enum=["hybrid", "semantic", "text"], description="default hybrid"),
    OpenApiParameter("tags", str, description="Comma-separated: images with every one of these tags"),
    OpenApiParameter(
        "has_text", bool, description="Only images with (true) or without (false) words in them"
    ),
    OpenApiParameter("label", str, description="A suggested label (its slug: GET /api/labels/)"),
    OpenApiParameter("collapse", bool, description="Show copies of one image once (default true)"),
    OpenApiParameter("more", str, description="Feedback: image ids to find more like (+ image:ID)"),
    OpenApiParameter("less", str, description="Feedback: image ids to find less like (- image:ID)"),
    OpenApiParameter("owner", str, description="A username, or 'me'"),
    OpenApiParameter("visibility", str, enum=["public", "private"]),
    OpenApiParameter(
        "moderation", str, enum=["hidden"], description="Withheld images: yours; moderators: public ones"
    ),
    OpenApiParameter("created_after", str),
    OpenApiParameter("created_before", str),
]


def _results(
    request,
    model_id: str,
    results: list[Result],
    mode: str = "semantic",
    query=None,
    notes: tuple[Note, ...] = (),
) -> Response:
    return Response(
        {
            "results": results_json(results, request),
            "count": len(results),
            "model": model_id,
            "mode": mode,
            "query": str(query) if query else "",
            "notes": [{"code": n.code, "message": n.message, "model": n.model} for n in notes],
        }
    )


@extend_schema(
    methods=["GET"],
    parameters=[
        OpenApiParameter(
            "q",
            str,
            required=True,
            description='Query language: terms joined by + and -, weights "2:", quoted phrases, '
            'image:ID, e.g. 2:"red car" + image:42 - night',
        ),
        *FILTERS,
    ],
    responses=RESULTS,
)
@extend_schema(
    methods=["POST"],
    parameters=FILTERS,
    request={
        "multipart/form-data": inline_serializer(
            "ImageQuery", {"image": serializers.ImageField(), "q": serializers.CharField(required=False)}
        )
    },
    responses=RESULTS,
)
@api_view(["GET", "POST"])
@permission_classes([AllowAny])
@parser_classes([MultiPartParser, FormParser])
def search(request):
    form = SearchForm(request.query_params, user=request.user)
    params = form.params()
    if request.method == "GET":
        query, image = form.query(), None
    else:
        # Feedback and filters come in the URL; the words may come with the upload or in the URL.
        query = form.query(
            example=True, text=SearchForm(request.data, user=request.user).text() or form.text()
        )
        image = example_image(request, "Send the example image as a multipart form field named 'image'.")
    found = run_query(query or Query(()), request.user, params, example=image)
    return _results(request, found.model_id, found.results, params.mode, query, found.notes)


REGION = OpenApiParameter(
    "region",
    str,
    description="x,y,w,h: search by this part of the image instead (fractions 0-1 of its width and "
    "height, e.g. 0.25,0.25,0.5,0.5); the server crops the stored original and encodes the crop",
)


@extend_schema(parameters=[*FILTERS, REGION], responses=RESULTS)
@api_view(["GET"])
@permission_classes([AllowAny])
def similar(request, pk: int):
    image = get_image_for_user(request.user, pk)
    params = SearchForm(request.query_params, user=request.user).params()
    region = parse_region(request.query_params.get("region"))
    if region is not None:
        results, model_id = similar_to_region(image, region, request.user, params)
        return _results(request, model_id, results)
    results = similar_to(image, request.user, params)  # the active model's vector of the image
    return _results(request, switching.active_model_id(), results)


@extend_schema(
    parameters=[MIN_SCORE, LIMIT],
    responses=inline_serializer(
        "Duplicates",
        {
            "duplicates": DuplicateSerializer(many=True),
            "count": serializers.IntegerField(),
            "semantic_tier": serializers.BooleanField(),
            "semantic_off_reason": serializers.CharField(),
        },
    ),
)
@api_view(["GET"])
@permission_classes([AllowAny])
def duplicates(request, pk: int):
    image = get_image_for_user(request.user, pk)
    params = SearchForm(request.query_params, user=request.user).params()
    found = find_duplicates(image, request.user, params.min_score, params.limit)
    return Response(
        {
            "duplicates": duplicates_json(found, request),
            "count": len(found),
            "semantic_tier": copies.semantic_enabled(),
            "semantic_off_reason": copies.semantic_off_reason(),
        }
    )
