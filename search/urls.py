from django.urls import path

from . import views

urlpatterns = [
    path("search/", views.search_page, name="search"),
    path("search/example/<str:token>/", views.example_preview, name="search-example"),
    path("images/<int:pk>/", views.image_page, name="image-detail"),
]
