"""Search page helpers: matched words marked in titles, tags and OCR text."""

from __future__ import annotations

import re

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

register = template.Library()
SNIPPET_CHARS = 160


def _pattern(words) -> re.Pattern | None:
    words = sorted({w for w in words or () if w and w.strip()}, key=len, reverse=True)
    if not words:
        return None
    return re.compile("|".join(re.escape(w) for w in words), re.IGNORECASE)


@register.filter
def highlight(text, words) -> SafeString:
    """`text` escaped, with every occurrence of `words` wrapped in <mark>."""
    text = str(text or "")
    pattern = _pattern(words)
    if pattern is None:
        return mark_safe(escape(text))
    out, last = [], 0
    for match in pattern.finditer(text):
        out += [escape(text[last : match.start()]), f"<mark>{escape(match.group(0))}</mark>"]
        last = match.end()
    out.append(escape(text[last:]))
    return mark_safe("".join(out))


@register.filter
def snippet(text, words) -> str:
    """About SNIPPET_CHARS characters of `text` around the first matched word (all of it if short)."""
    text = " ".join(str(text or "").split())
    if len(text) <= SNIPPET_CHARS:
        return text
    pattern = _pattern(words)
    match = pattern.search(text) if pattern else None
    start = max(0, (match.start() if match else 0) - SNIPPET_CHARS // 3)
    end = min(len(text), start + SNIPPET_CHARS)
    return ("…" if start else "") + text[start:end] + ("…" if end < len(text) else "")
