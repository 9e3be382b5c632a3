from django.urls import path

from . import media, views

urlpatterns = [
    path("moderation/", views.queue, name="moderation-queue"),
    path("moderation/groups/<int:pk>/resolve/", views.resolve, name="moderation-resolve"),
    path("moderation/groups/<int:pk>/dismiss/", views.dismiss, name="moderation-dismiss"),
    path("moderation/bulk/", views.bulk, name="moderation-bulk"),
    path("moderation/bans/", views.bans_page, name="moderation-bans"),
    path("moderation/bans/<int:pk>/thumbnail/", media.ban_thumbnail, name="moderation-ban-thumbnail"),
    path("moderation/bans/<int:pk>/unban/", views.unban, name="moderation-unban"),
    path("moderation/images/<int:pk>/ban/", views.ban, name="moderation-ban"),
    path("moderation/settings/", views.reviewer_settings, name="moderation-settings"),
    path("moderation/audit/", views.audit_page, name="moderation-audit"),
    path("images/<int:pk>/request-review/", views.request_review, name="image-request-review"),
    path("moderation/images/<int:pk>/thumbnail/", media.thumbnail, name="moderation-thumbnail"),
    path("moderation/images/<int:pk>/original/", media.original, name="moderation-original"),
]
