from django.urls import path

from . import api, trash_api

urlpatterns = [
    path("images/", api.ImageListCreate.as_view(), name="api-images"),
    path("images/<int:pk>/", api.ImageDetail.as_view(), name="api-image"),
    path("images/<int:pk>/restore/", trash_api.restore, name="api-image-restore"),
    path("trash/", trash_api.trash_list, name="api-trash"),
    path("trash/<int:pk>/", trash_api.trash_detail, name="api-trash-item"),
]
