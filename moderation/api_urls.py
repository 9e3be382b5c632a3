from django.urls import path

from . import api

urlpatterns = [
    path("moderation/groups/", api.groups, name="api-moderation-groups"),
    path("moderation/groups/bulk/", api.bulk, name="api-moderation-bulk"),
    path("moderation/groups/<int:pk>/", api.group_detail, name="api-moderation-group"),
    path("moderation/groups/<int:pk>/resolve/", api.resolve, name="api-moderation-resolve"),
    path("moderation/groups/<int:pk>/dismiss/", api.dismiss, name="api-moderation-dismiss"),
    path("moderation/bans/", api.ban_list, name="api-moderation-bans"),
    path("moderation/bans/export/", api.ban_export, name="api-moderation-bans-export"),
    path("moderation/bans/import/", api.ban_import, name="api-moderation-bans-import"),
    path("moderation/bans/<int:pk>/", api.ban_detail, name="api-moderation-ban"),
    path("moderation/rescans/", api.rescan_list, name="api-moderation-rescans"),
    path("moderation/rescans/<int:pk>/", api.rescan_detail, name="api-moderation-rescan"),
    path("moderation/banks/", api.banks, name="api-moderation-banks"),
    path("moderation/banks/<str:name>/", api.bank_detail, name="api-moderation-bank"),
    path("moderation/audit/", api.audit, name="api-moderation-audit"),
    path("images/<int:pk>/request-review/", api.request_review, name="api-image-request-review"),
]
