"""/api/moderation/: the review queue, decisions, the ban bank and the audit log (moderators only:
401 signed out, 403 otherwise). Input is parsed by `moderation.forms`; errors are raised and
mapped in `webapp.errors`."""

from __future__ import annotations

from django.conf import settings
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view, parser_classes, permission_classes
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from core.errors import BadInput, PayloadTooLarge
from core.pagination import Pagination
from ingestion.access import get_image_for_user

from . import bans, rescans, review, services, withholding
from .forms import (
    AuditForm,
    BanForm,
    BankForm,
    BulkForm,
    DismissForm,
    GroupListForm,
    ResolveForm,
    ReviewRequestForm,
)
from .models import AuditEntry, BanCategory, BanEntry, Rescan
from .permissions import IsModerator
from .serializers import audit_json, ban_json, bank_json, group_json

PARSERS = [JSONParser, FormParser, MultiPartParser]

# For the OpenAPI schema only: the views build their JSON in `moderation.serializers`.
IMAGE = inline_serializer(
    "ModerationImage",
    {
        "id": serializers.IntegerField(),
        "url": serializers.URLField(),
        "thumbnail_url": serializers.URLField(allow_null=True),
        "owner": serializers.CharField(),
        "width": serializers.IntegerField(),
        "height": serializers.IntegerField(),
        "bytes": serializers.IntegerField(),
        "created_at": serializers.DateTimeField(),
        "keep_suggested": serializers.BooleanField(),
    },
)
LINK = inline_serializer(
    "ModerationLink",
    {
        "a": serializers.IntegerField(),
        "b": serializers.IntegerField(),
        "kind": serializers.ChoiceField(choices=["exact", "pdq", "clip"]),
        "pdq_distance": serializers.IntegerField(allow_null=True),
        "score": serializers.FloatField(allow_null=True),
    },
)
GROUP = inline_serializer(
    "ModerationGroup",
    {
        "id": serializers.IntegerField(),
        "kind": serializers.ChoiceField(choices=["duplicate", "banned"]),
        "status": serializers.ChoiceField(choices=["open", "resolved"]),
        "images": IMAGE.__class__(many=True),
        "keep_reason": serializers.CharField(allow_null=True),
        "links": LINK.__class__(many=True),
        "ban": inline_serializer(
            "ModerationBanRef",
            {
                "id": serializers.IntegerField(),
                "bank": serializers.CharField(),
                "reason": serializers.CharField(),
                "category": serializers.CharField(),
                "match": serializers.CharField(),
                "pdq_distance": serializers.IntegerField(allow_null=True),
                "variant": serializers.CharField(),
                "thumbnail_url": serializers.URLField(allow_null=True),
            },
            allow_null=True,
        ),
    },
)
RESOLVE = inline_serializer(
    "ModerationResolve",
    {
        "keep": serializers.ListField(child=serializers.IntegerField()),
        "action": serializers.ChoiceField(choices=["delete", "hide"]),
        "note": serializers.CharField(required=False),
    },
)
NOTE = inline_serializer("ModerationNote", {"note": serializers.CharField(required=False)})
BAN = inline_serializer(
    "ModerationBan",
    {
        "image": serializers.IntegerField(),
        "category": serializers.ChoiceField(choices=BanCategory.values, required=False),
        "note": serializers.CharField(required=False, help_text="Internal: moderators only"),
        "reason": serializers.CharField(required=False, help_text="The older name of note"),
        "bank": serializers.CharField(required=False),
    },
)
CSV_FILE = inline_serializer("ModerationCsv", {"file": serializers.FileField()})
AUDIT = inline_serializer(
    "ModerationAudit",
    {
        "at": serializers.DateTimeField(),
        "moderator": serializers.CharField(),
        "action": serializers.CharField(),
        "target": serializers.CharField(),
        "note": serializers.CharField(),
    },
    many=True,
)


@extend_schema(
    parameters=[
        OpenApiParameter("kind", str, enum=["duplicate", "banned"]),
        OpenApiParameter("status", str, enum=["open", "resolved"]),
        OpenApiParameter("order", str, enum=["newest", "largest"]),
        OpenApiParameter("page", int),
        OpenApiParameter("page_size", int),
    ],
    responses=GROUP,
    operation_id="moderation_groups_list",
)
@api_view(["GET"])
@permission_classes([IsModerator])
def groups(request):
    params = GroupListForm(request.query_params).cleaned()
    queryset = review.groups_queryset(params["kind"], params["status"], params["order"] or "newest")
    paginator = Pagination()
    page = review.with_members(list(paginator.paginate_queryset(queryset, request)), request.user)
    return paginator.get_paginated_response([group_json(g, request) for g in page])


@extend_schema(responses=GROUP)
@api_view(["GET"])
@permission_classes([IsModerator])
def group_detail(request, pk: int):
    group = review.with_members([services.get_group(pk)], request.user)[0]
    return Response(group_json(group, request))


@extend_schema(request=RESOLVE, responses=OpenApiTypes.OBJECT)
@api_view(["POST"])
@permission_classes([IsModerator])
@parser_classes(PARSERS)
def resolve(request, pk: int):
    params = ResolveForm(request.data).cleaned()
    group = services.get_group(pk)
    outcome = review.resolve(request.user, group, params["keep"], params["action"], params["note"])
    return Response(
        {"id": group.pk, "status": group.status, "kept": outcome.kept, "removed": outcome.removed}
    )


@extend_schema(request=NOTE, responses=OpenApiTypes.OBJECT)
@api_view(["POST"])
@permission_classes([IsModerator])
@parser_classes(PARSERS)
def dismiss(request, pk: int):
    params = DismissForm(request.data).cleaned()
    group = services.get_group(pk)
    review.dismiss(request.user, group, params["note"])
    return Response({"id": group.pk, "status": group.status, "resolution": group.resolution})


@extend_schema(request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT)
@api_view(["POST"])
@permission_classes([IsModerator])
@parser_classes(PARSERS)
def bulk(request):
    params = BulkForm(request.data).cleaned()
    if not params["groups"]:
        raise BadInput("groups: give at least one group id.")
    return Response(services.bulk(request.user, params["groups"], params["action"], params["note"]))


@extend_schema(methods=["GET"], operation_id="moderation_bans_list", responses=OpenApiTypes.OBJECT)
@extend_schema(methods=["POST"], request=BAN, responses={201: OpenApiTypes.OBJECT})
@api_view(["GET", "POST"])
@permission_classes([IsModerator])
@parser_classes(PARSERS)
def ban_list(request):
    if request.method == "POST":
        params = BanForm(request.data).cleaned()
        image = services.get_bannable_image(request.user, params["image"])
        entry = bans.ban_image(
            request.user, image, params["note"], params["bank"] or bans.DEFAULT_BANK, params["category"]
        )
        return Response(
            {**ban_json(entry, request), "rescan": rescans.job_json(entry.rescan, request)}, status=201
        )
    entries = BanEntry.objects.select_related("bank", "created_by").order_by("-created_at", "-id")
    bank = request.query_params.get("bank")
    if bank:
        entries = entries.filter(bank__name=bank)
    paginator = Pagination()
    page = paginator.paginate_queryset(entries, request)
    return paginator.get_paginated_response([ban_json(e, request) for e in page])


@extend_schema(responses=OpenApiTypes.OBJECT)
@api_view(["GET", "DELETE"])
@permission_classes([IsModerator])
def ban_detail(request, pk: int):
    entry = services.get_entry(pk)
    if request.method == "DELETE":
        bans.delete_entry(request.user, entry)
        return Response(status=204)
    return Response(ban_json(entry, request))


@extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
@api_view(["GET"])
@permission_classes([IsModerator])
def ban_export(request):
    response = StreamingHttpResponse(bans.export_rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="bans.csv"'
    return response


@extend_schema(request={"multipart/form-data": CSV_FILE}, responses=OpenApiTypes.OBJECT)
@api_view(["POST"])
@permission_classes([IsModerator])
@parser_classes([MultiPartParser])
def ban_import(request):
    upload = request.FILES.get("file")
    if upload is None:
        raise BadInput("Send the CSV as a multipart form field named 'file'.")
    if upload.size > settings.MODERATION_IMPORT_MAX_BYTES:
        raise PayloadTooLarge(
            f"file: at most {settings.MODERATION_IMPORT_MAX_BYTES} bytes can be imported at once."
        )
    result = bans.import_csv(request.user, upload.read())
    return Response({**result, "rescan": rescans.job_json(result["rescan"], request)}, status=201)


@extend_schema(
    parameters=[OpenApiParameter("page", int), OpenApiParameter("page_size", int)],
    responses=OpenApiTypes.OBJECT,
    operation_id="moderation_rescans_list",
)
@api_view(["GET"])
@permission_classes([IsModerator])
def rescan_list(request):
    """Retroactive matches, newest first: each new ban or import, matched against what is stored."""
    paginator = Pagination()
    page = paginator.paginate_queryset(Rescan.objects.all(), request)
    return paginator.get_paginated_response([rescans.job_json(j, request) for j in page])


@extend_schema(responses=OpenApiTypes.OBJECT)
@api_view(["GET"])
@permission_classes([IsModerator])
def rescan_detail(request, pk: int):
    """One retroactive match's progress: scanned of total, matched (withheld and queued)."""
    return Response(rescans.job_json(services.get_rescan(pk), request))


@extend_schema(responses=OpenApiTypes.OBJECT)
@api_view(["GET"])
@permission_classes([IsModerator])
def banks(request):
    return Response([bank_json(b) for b in services.banks_with_counts()])


@extend_schema(request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT)
@api_view(["PATCH"])
@permission_classes([IsModerator])
@parser_classes(PARSERS)
def bank_detail(request, name: str):
    bank = services.get_bank(name)
    form = BankForm(request.data)
    params = form.cleaned()
    if params["enabled"] is not None:
        bans.set_bank_enabled(request.user, bank, params["enabled"])
    if "max_distance" in form.data:
        bans.set_bank_distance(request.user, bank, params["max_distance"])
    return Response(bank_json(bank))


@extend_schema(request=NOTE, responses={201: OpenApiTypes.OBJECT})
@api_view(["POST"])
@permission_classes([IsAuthenticated])
@parser_classes(PARSERS)
def request_review(request, pk: int):
    """The owner of a withheld image asks moderators to look again (once per reason it is held)."""
    image = get_image_for_user(request.user, pk, write=True, action="ask for a review of")
    params = ReviewRequestForm(request.data).cleaned()
    group = withholding.request_review(request.user, image, params["note"])
    return Response(
        {"id": image.pk, "moderation": image.moderation, "review": "requested", "group": group.pk}, status=201
    )


@extend_schema(parameters=[OpenApiParameter("limit", int), OpenApiParameter("offset", int)], responses=AUDIT)
@api_view(["GET"])
@permission_classes([IsModerator])
def audit(request):
    params = AuditForm(request.query_params).cleaned()
    offset, limit = params["offset"] or 0, params["limit"] or 100
    entries = AuditEntry.objects.all()[offset : offset + limit]
    return Response([audit_json(e) for e in entries])
