from django.urls import path

from . import media, views

urlpatterns = [
    path("", views.gallery, name="gallery"),
    path("upload/", views.upload, name="upload"),
    path("images/bulk/", views.bulk, name="image-bulk"),
    path("images/<int:pk>/edit/", views.edit, name="image-edit"),
    path("images/<int:pk>/delete/", views.delete, name="image-delete"),
    path("media/images/<int:pk>/original", media.original, name="image-file"),
    path("media/images/<int:pk>/thumbnail.webp", media.thumbnail, name="image-thumbnail"),
]
