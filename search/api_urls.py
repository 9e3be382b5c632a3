from django.urls import path

from . import api, explore

urlpatterns = [
    path("search/", api.search, name="api-search"),
    path("labels/", explore.labels_api, name="api-labels"),
    path("images/<int:pk>/similar/", api.similar, name="api-similar"),
    path("images/<int:pk>/duplicates/", api.duplicates, name="api-duplicates"),
]
