"""The API's JSON parser: bounded in size and nesting before the json module sees the body.

Python's json recursion has no depth limit of its own: a body of 100,000 '[' raised RecursionError
(a 500). The depth is measured on the raw text with string contents removed, without recursion."""

from __future__ import annotations

import json
import re

import numpy as np
from django.conf import settings
from rest_framework.parsers import JSONParser

from core.errors import BadInput, PayloadTooLarge

# A JSON string literal (escapes included): brackets inside one do not nest anything.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_OPEN = np.frombuffer(b"[{", dtype=np.uint8)
_CLOSE = np.frombuffer(b"]}", dtype=np.uint8)


def nesting_depth(raw: bytes) -> int:
    """The deepest nesting of arrays and objects in a JSON text (0 for a scalar)."""
    structure = np.frombuffer(_STRING.sub(b"", raw), dtype=np.uint8)
    steps = np.isin(structure, _OPEN).astype(np.int32) - np.isin(structure, _CLOSE).astype(np.int32)
    return int(np.cumsum(steps).max(initial=0))


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser with MAX_JSON_BYTES (413) and MAX_JSON_DEPTH (400) checked first."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.MAX_JSON_BYTES
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise PayloadTooLarge(f"The JSON body is too large; the limit is {limit // 1024} KB.")
        depth = nesting_depth(raw)
        if depth > settings.MAX_JSON_DEPTH:
            raise BadInput(
                f"The JSON body is nested {depth} levels deep; the limit is {settings.MAX_JSON_DEPTH}."
            )
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return json.loads(raw.decode(encoding), parse_constant=_refuse_constant)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadInput(f"The body is not valid JSON: {exc}") from None


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")
