from django import template

from ingestion.access import is_moderator as _is_moderator

register = template.Library()


@register.filter
def is_moderator(user) -> bool:
    """`{% if user|is_moderator %}`: the moderation pages' link in the site's navigation."""
    return _is_moderator(user)
