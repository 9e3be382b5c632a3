"""The image page's route is ingestion's (`image-detail`); its view is handed down by search in
`SearchConfig.ready()` (docs/architecture.md, "Links the import linter cannot see")."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory
from django.urls import resolve, reverse

from ingestion import image_page
from search import views as search_views
from tests.factories import make_image, signed_in


def test_the_route_is_ingestions_and_search_draws_it() -> None:
    match = resolve(reverse("image-detail", args=[7]))
    assert match.func is image_page.image_page and match.kwargs == {"pk": 7}
    assert image_page._provided["view"] is search_views.image_page


def test_without_a_provider_the_page_is_a_plain_configuration_error(monkeypatch) -> None:
    monkeypatch.setattr(image_page, "_provided", {})
    with pytest.raises(ImproperlyConfigured, match="No installed app provides the image page"):
        image_page.image_page(RequestFactory().get("/images/1/"), 1)


@pytest.mark.django_db
def test_the_page_answers_through_the_route(alice) -> None:
    image = make_image(alice, title="a red circle")
    assert image.get_absolute_url() == f"/images/{image.pk}/"
    html = signed_in(alice).get(image.get_absolute_url()).content.decode()
    assert "a red circle" in html and 'id="similar"' in html  # search's page, neighbours included
