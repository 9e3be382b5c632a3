"""Search API: by text, by example image (optionally with text), and similar-to-an-image."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import api_view, parser_classes, permission_classes
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from ingestion.models import Image
from ingestion.validation import InvalidImage, check_request_size, validate_upload
from webapp.api import error

from . import queries
from .duplicates import find_duplicates
from .service import Result, parse_params, run_search, similar_to
from .vector_store import VectorStoreError

MAX_QUERY_CHARS = 1000

RESULT = inline_serializer(
    "SearchResults",
    {
        "results": serializers.ListField(child=serializers.DictField()),
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


def result_json(result: Result, request) -> dict:
    image = result.image
    thumb = image.thumbnail_url
    return {
        "id": image.pk,
        "score": round(result.score, 6),
        "title": image.display_title,
        "thumbnail_url": request.build_absolute_uri(thumb) if thumb else None,
        "url": request.build_absolute_uri(image.file_url),
        "page_url": request.build_absolute_uri(image.get_absolute_url()),
        "created_at": image.created_at.isoformat(),
        "owner": image.owner.username,
        "visibility": image.visibility,
        "width": image.width,
        "height": image.height,
    }


def _respond(request, run, model_id: str = "") -> Response:
    """Run a search, mapping every known failure to a clear status and message."""
    try:
        params = parse_params(request.query_params, request.user)
        query_model, results = run(params)
    except (queries.BadQuery, InvalidImage) as exc:
        return error(str(exc), status.HTTP_400_BAD_REQUEST)
    except queries.QueryUnavailable as exc:
        return error(str(exc), status.HTTP_503_SERVICE_UNAVAILABLE)
    except VectorStoreError as exc:
        return error(f"The search index is unavailable: {exc}", status.HTTP_503_SERVICE_UNAVAILABLE)
    body = {
        "results": [result_json(r, request) for r in results],
        "count": len(results),
        "model": query_model or model_id,
    }
    return Response(body)


def _text(raw) -> str:
    text = " ".join(str(raw or "").split())
    if len(text) > MAX_QUERY_CHARS:
        raise queries.BadQuery(f"The query is too long; the limit is {MAX_QUERY_CHARS} characters.")
    return text


@extend_schema(
    methods=["GET"],
    parameters=[OpenApiParameter("q", str, required=True), *FILTERS],
    responses=RESULT,
)
@extend_schema(
    methods=["POST"],
    parameters=FILTERS,
    request={
        "multipart/form-data": inline_serializer(
            "ImageQuery", {"image": serializers.ImageField(), "q": serializers.CharField(required=False)}
        )
    },
    responses=RESULT,
)
@api_view(["GET", "POST"])
@permission_classes([AllowAny])
@parser_classes([MultiPartParser, FormParser])
def search(request):
    if request.method == "GET":

        def run(params):
            text = _text(request.query_params.get("q"))
            if not text:
                raise queries.BadQuery("Type something to search for: the q parameter is empty.")
            query = queries.embed_text(text)
            return query.model_id, run_search(query, request.user, params)

        return _respond(request, run)

    def run_image(params):
        check_request_size(request)
        upload = request.FILES.get("image")
        if upload is None:
            raise queries.BadQuery("Send the example image as a multipart form field named 'image'.")
        validated = validate_upload(upload, upload.name)
        parts = [queries.embed_image(validated.data)]
        text = _text(request.data.get("q"))
        if text:
            parts.append(queries.embed_text(text))
        query = queries.combine(*parts) if len(parts) > 1 else parts[0]
        return query.model_id, run_search(query, request.user, params)

    return _respond(request, run_image)


@extend_schema(parameters=FILTERS, responses=RESULT)
@api_view(["GET"])
@permission_classes([AllowAny])
def similar(request, pk: int):
    image = get_object_or_404(Image.objects.visible_to(request.user), pk=pk)
    return _respond(request, lambda params: (image.embedding_model, similar_to(image, request.user, params)))


@extend_schema(
    parameters=[OpenApiParameter("min_score", float), OpenApiParameter("limit", int)],
    responses=inline_serializer(
        "Duplicates", {"duplicates": serializers.ListField(child=serializers.DictField())}
    ),
)
@api_view(["GET"])
@permission_classes([AllowAny])
def duplicates(request, pk: int):
    image = get_object_or_404(Image.objects.visible_to(request.user), pk=pk)
    try:
        params = parse_params(request.query_params, request.user)
        found = find_duplicates(image, request.user, params.min_score, params.limit)
    except queries.BadQuery as exc:
        return error(str(exc), status.HTTP_400_BAD_REQUEST)
    except VectorStoreError as exc:
        return error(f"The search index is unavailable: {exc}", status.HTTP_503_SERVICE_UNAVAILABLE)
    body = [
        {**result_json(Result(d.image, d.score), request), "pdq_distance": d.pdq_distance, "kind": d.kind}
        for d in found
    ]
    return Response({"duplicates": body, "count": len(body)})
