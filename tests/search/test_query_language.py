"""The query language: terms, weights, negatives, quoted phrases, image terms and clear errors."""

from __future__ import annotations

import pytest

from search.query.query_language import MAX_TERMS, Query, QuerySyntaxError, Term, parse


def test_plain_words_are_one_term() -> None:
    query = parse("a red bicycle")
    assert query.terms == (Term(text="a red bicycle"),)
    assert query.is_plain_text()
    assert query.highlight_words() == ["a", "red", "bicycle"]


def test_weights_negatives_phrases_and_images() -> None:
    query = parse('2:"red car" + image:42 - night')
    assert query.terms == (
        Term(weight=2.0, text="red car", phrase=True),
        Term(image_id=42),
        Term(negative=True, text="night"),
    )
    assert query.image_ids == [42]
    assert [t.text for t in query.positive_text_terms] == ["red car"]
    assert [t.text for t in query.negative_text_terms] == ["night"]
    assert query.terms[0].words() == ["red car"]  # a phrase is matched as one string
    assert query.terms[2].signed_weight == -1.0
    assert str(query) == '2:"red car" + image:42 - night'
    assert parse(str(query)) == query


def test_hyphens_inside_words_are_not_operators() -> None:
    assert parse("zebra-crossing").terms == (Term(text="zebra-crossing"),)
    assert parse("beach -people").terms == (Term(text="beach"), Term(text="people", negative=True))
    assert parse("0.5:sunset+clouds").terms == (Term(weight=0.5, text="sunset+clouds"),)
    assert parse("-1.5:x + y").terms == (Term(weight=1.5, text="x", negative=True), Term(text="y"))


def test_unicode_and_case() -> None:
    assert parse("西湖 - 人").terms == (Term(text="西湖"), Term(text="人", negative=True))
    assert parse("IMAGE:7").terms == (Term(image_id=7),)
    assert parse('"  many   spaces "').terms == (Term(text="many spaces", phrase=True),)


def test_image_terms_may_stand_alone() -> None:
    query = parse("image:7 - image:9")
    assert query.image_ids == [7, 9]
    assert not query.text_terms and query.highlight_words() == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the q parameter is empty"),
        ("   ", "the q parameter is empty"),
        ('"red car', "A quoted phrase is not closed"),
        ('""', "An empty phrase"),
        ("cat +", "ends with + or -"),
        ("cat + + dog", "Two operators in a row"),
        ("- night", "at least one term without '-'"),
        ("- a - b", "at least one term without '-'"),
        ("image:abc", "image:abc is not an image id"),
        ("image:", "is not an image id"),
        ("image:0", "image:0 is not an image id"),
        ("image:99999999999999999999999", "is not an image id"),
        ("cat image:4", "Put + or - between words and an image:ID term"),
        ('red "car"', "Put + or - between terms"),
        ("image:4 cat", "Put + or - between terms"),
        ("0:cat", "must be above 0"),
        ("11:cat", "at most 10"),
        ("2: cat", "must be followed by a term"),
        (" + ".join(["x"] * (MAX_TERMS + 1)), f"at most {MAX_TERMS}"),
    ],
)
def test_bad_syntax_says_what_to_change(text: str, message: str) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse(text)
    assert message in caught.value.public_message
    assert caught.value.status_code == 400


def test_only_negative_terms_with_an_uploaded_example() -> None:
    assert parse("- night", positive_elsewhere=True).terms == (Term(text="night", negative=True),)


def test_query_helpers() -> None:
    query = Query((Term(text="a b"), Term(image_id=3, weight=2.0, negative=True)))
    assert query.image_terms[0].signed_weight == -2.0
    assert str(query) == "a b - 2:image:3"
    assert not query.is_plain_text()
