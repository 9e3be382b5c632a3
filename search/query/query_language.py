"""The search query language, parsed into a typed query before any work is done.

    query  := ["-"] term (("+" | "-") term)*
    term   := [weight ":"] (phrase | "image:" ID | words)
    phrase := '"' any text but '"' '"'

`+` and `-` are operators only where they start the query or stand after whitespace, so
`zebra-crossing` stays one word. Words are kept together up to the next operator: `red car + night`
has two terms. A weight is a positive number up to MAX_WEIGHT; it defaults to 1. Examples:
`2:"red car" + image:42 - night`, `sunset - people`, `image:7 - image:9`.

Errors are `BadQuery` (400) with a message that says what to change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.errors import BadInput
from core.forms import MAX_ID

MAX_TERMS = 16
MAX_WEIGHT = 10.0
_WEIGHT = re.compile(r"(\d+(?:\.\d+)?|\.\d+):")
_IMAGE = re.compile(r"image:(\S*)", re.IGNORECASE)


class QuerySyntaxError(BadInput):
    """The query does not follow the query language: a 400 naming the problem."""


@dataclass(frozen=True)
class Term:
    """One term: text (words or a quoted phrase) or an example image, with its weight and sign."""

    weight: float = 1.0
    negative: bool = False
    text: str = ""
    phrase: bool = False  # quoted: matched as one exact string by the keyword side
    image_id: int | None = None

    @property
    def is_image(self) -> bool:
        return self.image_id is not None

    @property
    def signed_weight(self) -> float:
        return -self.weight if self.negative else self.weight

    def words(self) -> list[str]:
        """What the keyword side looks for: the phrase as one string, or each word."""
        if self.is_image:
            return []
        return [self.text] if self.phrase else self.text.split()

    def __str__(self) -> str:
        body = f"image:{self.image_id}" if self.is_image else (f'"{self.text}"' if self.phrase else self.text)
        return f"{self.weight:g}:{body}" if self.weight != 1.0 else body


@dataclass(frozen=True)
class Query:
    terms: tuple[Term, ...]

    @property
    def text_terms(self) -> list[Term]:
        return [t for t in self.terms if not t.is_image]

    @property
    def image_terms(self) -> list[Term]:
        return [t for t in self.terms if t.is_image]

    @property
    def positive_text_terms(self) -> list[Term]:
        return [t for t in self.text_terms if not t.negative]

    @property
    def negative_text_terms(self) -> list[Term]:
        return [t for t in self.text_terms if t.negative]

    @property
    def image_ids(self) -> list[int]:
        return [t.image_id for t in self.image_terms if t.image_id is not None]

    def highlight_words(self) -> list[str]:
        """The words a result page marks: those of the positive text terms."""
        return [w for t in self.positive_text_terms for w in t.words()]

    def is_plain_text(self) -> bool:
        """One positive text term with weight 1: what the search box sent before the language."""
        return len(self.terms) == 1 and not self.terms[0].is_image and not self.terms[0].negative

    def __str__(self) -> str:
        out = ""
        for i, term in enumerate(self.terms):
            sign = "- " if term.negative else ("+ " if i else "")
            out += (" " if i else "") + sign + str(term)
        return out


def _is_operator(text: str, i: int) -> bool:
    return text[i] in "+-" and (i == 0 or text[i - 1].isspace())


def parse(text: str, *, positive_elsewhere: bool = False) -> Query:
    """Parse `text` into a Query; raise QuerySyntaxError (400) on anything malformed. With
    `positive_elsewhere` (an uploaded example image) the terms may all be negative."""
    text = text.strip()
    if not text:
        raise QuerySyntaxError("Type something to search for: the q parameter is empty.")
    terms: list[Term] = []
    i, n = 0, len(text)
    negative = False
    expect_term = True
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        if _is_operator(text, i):
            if expect_term and terms:
                raise QuerySyntaxError(
                    f"Two operators in a row at character {i + 1}: put a term between them."
                )
            negative = text[i] == "-"
            expect_term = True
            i += 1
            continue
        if not expect_term:
            raise QuerySyntaxError(f"Unexpected text at character {i + 1}.")  # pragma: no cover - defensive
        term, i = _term(text, i, negative)
        terms.append(term)
        if len(terms) > MAX_TERMS:
            raise QuerySyntaxError(f"Too many terms; a query has at most {MAX_TERMS}.")
        negative, expect_term = False, False
        # After a term only whitespace and an operator may follow.
        j = i
        while j < n and text[j].isspace():
            j += 1
        if j < n and not _is_operator(text, j):
            raise QuerySyntaxError(
                f"Put + or - between terms: '{text[i : j + 12].strip()}' follows {terms[-1]} without one."
            )
        i = j
    if expect_term:
        raise QuerySyntaxError("The query ends with + or -: add a term after it.")
    if not positive_elsewhere and all(t.negative for t in terms):
        raise QuerySyntaxError("A query needs at least one term without '-': say what to look for.")
    return Query(tuple(terms))


def _term(text: str, i: int, negative: bool) -> tuple[Term, int]:
    weight = 1.0
    match = _WEIGHT.match(text, i)
    if match:
        weight = float(match.group(1))
        if not 0 < weight <= MAX_WEIGHT:
            raise QuerySyntaxError(f"The weight {match.group(1)} must be above 0 and at most {MAX_WEIGHT:g}.")
        i = match.end()
        if i >= len(text) or text[i].isspace():
            raise QuerySyntaxError(
                f"The weight {match.group(1)}: must be followed by a term, without a space."
            )
    if text[i] == '"':
        end = text.find('"', i + 1)
        if end < 0:
            raise QuerySyntaxError('A quoted phrase is not closed: add the closing ".')
        phrase = " ".join(text[i + 1 : end].split())
        if not phrase:
            raise QuerySyntaxError('An empty phrase "" searches for nothing: put words between the quotes.')
        return Term(weight=weight, negative=negative, text=phrase, phrase=True), end + 1
    match = _IMAGE.match(text, i)
    if match:
        raw = match.group(1)
        if not (raw.isascii() and raw.isdigit()) or not 0 < int(raw) <= MAX_ID:
            raise QuerySyntaxError(
                f"image:{raw[:20]} is not an image id: write image:ID with a number, e.g. image:42."
            )
        return Term(weight=weight, negative=negative, image_id=int(raw)), match.end()
    # Bare words run to the next operator (or quote).
    j = i
    while j < len(text) and not _is_operator(text, j) and text[j] != '"':
        j += 1
    words = " ".join(text[i:j].split())
    if _IMAGE.search(words):
        raise QuerySyntaxError("Put + or - between words and an image:ID term.")
    return Term(weight=weight, negative=negative, text=words), j
