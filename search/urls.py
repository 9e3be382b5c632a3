from django.urls import path

from . import explore, views

urlpatterns = [
    path("search/", views.search_page, name="search"),
    path("search/example/<str:token>/", views.example_preview, name="search-example"),
    path("explore/", explore.explore_page, name="explore"),
]
