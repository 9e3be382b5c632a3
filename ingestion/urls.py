from django.urls import path

from . import image_page, media, trash_views, views

urlpatterns = [
    path("", views.gallery, name="gallery"),
    path("upload/", views.upload, name="upload"),
    path("images/bulk/", views.bulk, name="image-bulk"),
    # The image page: ingestion's route, search's view (handed down in SearchConfig.ready()).
    path("images/<int:pk>/", image_page.image_page, name="image-detail"),
    path("images/<int:pk>/edit/", views.edit, name="image-edit"),
    path("images/<int:pk>/delete/", views.delete, name="image-delete"),
    path("media/images/<int:pk>/original", media.original, name="image-file"),
    path("media/images/<int:pk>/thumbnail.webp", media.thumbnail, name="image-thumbnail"),
    path("trash/", trash_views.trash_page, name="trash"),
    path("trash/empty/", trash_views.empty, name="trash-empty"),
    path("trash/<int:pk>/restore/", trash_views.restore, name="trash-restore"),
    path("trash/<int:pk>/delete/", trash_views.delete, name="trash-delete"),
    path("trash/<int:pk>/thumbnail.webp", trash_views.thumbnail, name="trash-thumbnail"),
]
