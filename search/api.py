"""Search API: by text, by example image (optionally with text), similar-to and duplicates-of an
image. Input is parsed by `search.forms`; errors are raised and mapped in `webapp.errors`."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view, parser_classes, permission_classes
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from ingestion.access import get_image_for_user

from . import queries
from .duplicates import find_duplicates
from .forms import SearchForm, example_image
from .serializers import DuplicateSerializer, SearchResultSerializer, duplicates_json, results_json
from .service import Result, run_search, similar_to

RESULTS = inline_serializer(
    "SearchResults",
    {
        "results": SearchResultSerializer(many=True),
        "count": serializers.IntegerField(),
        "model": serializers.CharField(),
    },
)
FILTERS = [
    OpenApiParameter("limit", int),
    OpenApiParameter("offset", int),
    OpenApiParameter("min_score", float),
    OpenApiParameter("sort", str, enum=["relevance", "date"]),
    OpenApiParameter("owner", str, description="A username, or 'me'"),
    OpenApiParameter("visibility", str, enum=["public", "private"]),
    OpenApiParameter("created_after", str),
    OpenApiParameter("created_before", str),
]


def _results(request, model_id: str, results: list[Result]) -> Response:
    return Response({"results": results_json(results, request), "count": len(results), "model": model_id})


@extend_schema(
    methods=["GET"],
    parameters=[OpenApiParameter("q", str, required=True), *FILTERS],
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
        query = queries.embed_text(form.required_text())
    else:
        image = example_image(request, "Send the example image as a multipart form field named 'image'.")
        query = queries.image_query(image, SearchForm(request.data, user=request.user).text())
    return _results(request, query.model_id, run_search(query, request.user, params))


@extend_schema(parameters=FILTERS, responses=RESULTS)
@api_view(["GET"])
@permission_classes([AllowAny])
def similar(request, pk: int):
    image = get_image_for_user(request.user, pk)
    params = SearchForm(request.query_params, user=request.user).params()
    return _results(request, image.embedding_model, similar_to(image, request.user, params))


@extend_schema(
    parameters=[OpenApiParameter("min_score", float), OpenApiParameter("limit", int)],
    responses=inline_serializer(
        "Duplicates", {"duplicates": DuplicateSerializer(many=True), "count": serializers.IntegerField()}
    ),
)
@api_view(["GET"])
@permission_classes([AllowAny])
def duplicates(request, pk: int):
    image = get_image_for_user(request.user, pk)
    params = SearchForm(request.query_params, user=request.user).params()
    found = find_duplicates(image, request.user, params.min_score, params.limit)
    return Response({"duplicates": duplicates_json(found, request), "count": len(found)})
