from django.contrib import admin

from .models import Image, Tag


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ["id", "title", "owner", "visibility", "status", "format", "width", "height", "created_at"]
    list_filter = ["status", "visibility", "format"]
    search_fields = ["title", "original_filename", "sha256", "owner__username"]
    readonly_fields = [
        "original",
        "thumbnail",
        "sha256",
        "size_bytes",
        "width",
        "height",
        "format",
        "indexed_at",
        "attempts",
        "created_at",
        "updated_at",
    ]
    raw_id_fields = ["owner"]


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    search_fields = ["name"]
