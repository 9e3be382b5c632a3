from django.contrib import admin

from .models import AuditEntry, BanEntry, Bank, Group, Link


@admin.register(Bank)
class BankAdmin(admin.ModelAdmin):
    list_display = ["name", "enabled", "created_at"]


@admin.register(BanEntry)
class BanEntryAdmin(admin.ModelAdmin):
    list_display = ["id", "bank", "reason", "pdq_quality", "confirmed", "false_positives", "created_at"]
    list_filter = ["bank"]
    raw_id_fields = ["image", "created_by"]


@admin.register(Group)
class GroupAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "status", "resolution", "size", "created_at"]
    list_filter = ["kind", "status"]
    raw_id_fields = ["ban", "resolved_by"]


@admin.register(Link)
class LinkAdmin(admin.ModelAdmin):
    list_display = ["id", "a", "b", "kind", "pdq_distance", "score", "state"]
    list_filter = ["kind", "state"]
    raw_id_fields = ["a", "b"]


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["at", "moderator_name", "action", "target", "note"]
    readonly_fields = ["at", "moderator", "moderator_name", "action", "target", "note"]
