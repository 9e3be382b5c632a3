from django import template

from ingestion.access import is_moderator as _is_moderator
from ingestion.models import Image

from .. import withholding
from ..models import BanCategory, BanEntry

register = template.Library()


@register.filter
def is_moderator(user) -> bool:
    """`{% if user|is_moderator %}`: the moderation pages' link in the site's navigation."""
    return _is_moderator(user)


@register.simple_tag
def review_request(image, user) -> dict[str, bool]:
    """The withheld notice on an image's page: may its owner ask for a review, or did they?"""
    owner = bool(user and user.is_authenticated and user.pk == image.owner_id)
    return {
        "owner": owner,
        "can_request": withholding.can_request_review(image, user),
        "requested": owner and withholding.review_requested(image),
    }


@register.simple_tag
def ban_tools(image, user) -> dict:
    """The image page's "Ban from the site" form: moderators, on indexed images (a ban needs the
    hashes); the ban entries already made from this image are listed beside it."""
    if not (_is_moderator(user) and image.status == Image.Status.INDEXED):
        return {"show": False}
    entries = BanEntry.objects.filter(image_id=image.pk).select_related("bank").order_by("pk")
    return {"show": True, "categories": BanCategory.choices, "entries": list(entries), "images": [image]}
