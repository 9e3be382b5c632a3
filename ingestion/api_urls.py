from django.urls import path

from . import api

urlpatterns = [
    path("images/", api.ImageListCreate.as_view(), name="api-images"),
    path("images/<int:pk>/", api.ImageDetail.as_view(), name="api-image"),
]
