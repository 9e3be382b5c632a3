"""The keyword index: kept by the database's triggers, searched by substring (trigram) and by short
words (LIKE), always inside the viewer's visible images."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection

from ingestion.filters import ImageFilter
from ingestion.models import Image, Tag
from search.models import OcrRun
from search.query import keywords
from search.query.query_language import parse
from search.query.service import SearchParams, candidates
from tests.factories import make_image, make_user, read_words

pytestmark = pytest.mark.django_db


def indexed_image(owner, kind: str = "circle", **fields) -> Image:
    """A row the search may show (indexed), without running the model: the keyword side only
    reads the database."""
    ocr_text = fields.pop("ocr_text", "")  # the words read: search's OcrRun keeps them
    filename = fields.pop("filename", None)
    image = make_image(owner, kind, **fields)
    changes = {"status": Image.Status.INDEXED}
    if filename:
        changes["original_filename"] = filename
    Image.objects.filter(pk=image.pk).update(**changes)
    if ocr_text:
        read_words(image, ocr_text)
    image.refresh_from_db()
    return image


def find(q: str, user=None, **params) -> list[int]:
    user = user or AnonymousUser()
    found = candidates(user, SearchParams(filters=ImageFilter(**params)))
    return [h.image_id for h in keywords.search(parse(q), found, 50)]


def hit(q: str, user=None):
    hits = keywords.search(parse(q), candidates(user or AnonymousUser(), SearchParams()), 50)
    assert len(hits) == 1, hits
    return hits[0]


def test_substrings_and_chinese_without_spaces(alice) -> None:
    sign = indexed_image(alice, "square", title="trip", ocr_text="欢迎光临杭州西湖\nHarbour Street Bakery")
    menu = indexed_image(alice, "circle", title="lunch", ocr_text="今日特价牛肉面条")
    assert find("杭州西湖") == [sign.pk]
    assert find("西湖") == [sign.pk]  # two characters: below the trigram, still found
    assert find("面条") == [menu.pk]
    assert find("牛肉") == [menu.pk]
    assert find("bakery") == [sign.pk]  # any case
    assert find("Harb") == [sign.pk]  # a substring
    assert find("bicycle") == []


def test_fields_say_which_signal_matched(alice) -> None:
    image = indexed_image(
        alice, title="Zebra at noon", tags=["zebra-crossing", "street"], filename="IMG_0042.jpg"
    )
    read_words(image, "STOP")
    assert hit("zebra").fields == ("title", "tags")
    assert hit("zebra-crossing").fields == ("tags",)
    assert hit("img_0042").fields == ("filename",)
    assert hit("stop").fields == ("ocr",)
    assert hit("zebra").exact and not hit("zeb").exact


def test_words_must_all_be_there_and_short_latin_words_are_whole_words(alice) -> None:
    red_car = indexed_image(alice, title="a red car", tags=["street"])
    indexed_image(alice, "square", title="the redwood forest")
    assert find("red car") == [red_car.pk]
    assert find("car street") == [red_car.pk]  # words may sit in different fields
    assert find('"red car"') == [red_car.pk]
    assert find('"car red"') == []
    assert find("a") == [red_car.pk]  # "a" as a substring would match nearly everything


def test_exact_words_rank_before_substrings_and_weights_count(alice) -> None:
    partial = indexed_image(alice, "circle", title="carpet")
    exact = indexed_image(alice, "square", title="car")
    assert find("car") == [exact.pk, partial.pk]
    both = indexed_image(alice, "stripes", title="tram", tags=["bus"])
    tram_only = indexed_image(alice, "triangle", title="tram")
    bus_only = indexed_image(alice, "circle", title="bus", color=(0, 0, 200))
    ranked = find("tram + 3:bus")
    assert ranked[0] == both.pk
    assert ranked.index(bus_only.pk) < ranked.index(tram_only.pk)


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("coffee_crop15.jpg", ["coffee", "crop", "15"]),
        ("myCoffeeCup.png", ["my", "Coffee", "Cup"]),
        ("HTMLParser-v2.tar.gz", ["HTML", "Parser", "v", "2", "tar"]),
        ("IMG_0042.JPG", ["IMG", "0042"]),
        ("café-au-lait.jpeg", ["café", "au", "lait"]),
        ("西湖夜景.jpg", ["西湖夜景"]),
        ("", []),
    ],
)
def test_file_names_are_split_into_words(name: str, words: list[str]) -> None:
    assert keywords.filename_words(name) == words


def test_a_whole_word_of_a_file_name_ranks_with_titles(alice) -> None:
    """Issue 20: `coffee` found `coffee_crop15.jpg` only as a substring, behind a title that merely
    contained the letters."""
    substring = indexed_image(alice, "circle", title="coffeehouse sign")
    crop = indexed_image(alice, "square", title="crop", filename="coffee_crop15.jpg")
    camel = indexed_image(alice, "stripes", title="cup", filename="morningCoffee-2.png")
    titled = indexed_image(alice, "triangle", title="Coffee")
    found = keywords.search(parse("coffee"), candidates(AnonymousUser(), SearchParams()), 50)
    assert [h.image_id for h in found][-1] == substring.pk
    assert {h.image_id for h in found[:3]} == {crop.pk, camel.pk, titled.pk}
    by_id = {h.image_id: h for h in found}
    assert by_id[crop.pk].exact and by_id[crop.pk].fields == ("filename",)
    assert by_id[crop.pk].score == by_id[titled.pk].score  # a file name's word weighs as a title's
    assert find("crop15") == [crop.pk]  # the name as written still matches
    assert find('"morning coffee"') == [camel.pk]  # a phrase across camelCase
    assert find('"coffee morning"') == []


def test_negative_words_remove_keyword_hits(alice) -> None:
    day = indexed_image(alice, title="harbour by day")
    indexed_image(alice, "square", title="harbour at night")
    assert find("harbour - night") == [day.pk]


def test_triggers_follow_every_write(alice) -> None:
    image = indexed_image(alice, title="old title", tags=["beach"])
    image.title = "sunset over the lake"
    image.save()  # a page, the API or the admin
    assert find("sunset") == [image.pk] and find("old title") == []

    image.tags.add(Tag.objects.create(name="holiday"))
    assert find("holiday") == [image.pk]
    image.tags.remove(Tag.objects.get(name="beach"))
    assert find("beach") == []
    Tag.objects.filter(name="holiday").update(name="vacation")
    assert find("vacation") == [image.pk] and find("holiday") == []

    read_words(image, "OPEN 24 HOURS")  # the OCR worker's first read: a new OcrRun
    assert find("24 hours") == [image.pk]
    Image.objects.filter(pk=image.pk).update(title="closed shop")  # the words stay
    assert find("24 hours") == find("closed") == [image.pk]
    read_words(image, "CLOSED SUNDAYS")  # read again (reconcile --ocr --force)
    assert find("sundays") == [image.pk] and find("24 hours") == []
    OcrRun.objects.filter(image=image).delete()
    assert find("sundays") == [] and find("closed") == [image.pk]
    read_words(image, "OPEN 24 HOURS")
    image.delete()  # its run with it
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM search_keywords")
        assert cursor.fetchone()[0] == 0


def test_rebuild_gives_what_the_triggers_keep(alice) -> None:
    image = indexed_image(alice, title="lighthouse", tags=["coast"], ocr_text="KEEP OUT")
    assert keywords.rebuild() == 1
    assert find("lighthouse") == find("coast") == find("keep out") == [image.pk]


def test_private_words_never_reach_another_user(alice) -> None:
    secret = indexed_image(alice, title="diary", ocr_text="password hunter2", visibility="private")
    bob = make_user("bob")
    assert find("hunter2") == []
    assert find("hunter2", bob) == []
    assert find("diary", bob) == []
    assert find("hunter2", alice) == [secret.pk]
    hidden = indexed_image(bob, title="banned words")
    Image.objects.filter(pk=hidden.pk).update(moderation=Image.Moderation.HIDDEN)
    assert find("banned", alice) == []
    assert find("banned", bob) == [hidden.pk]  # its owner still sees it


def test_filters_apply_to_the_keyword_side(alice) -> None:
    bob = make_user("bob")
    tagged = indexed_image(alice, title="kite festival", tags=["beach"], ocr_text="KITE")
    plain = indexed_image(bob, "square", title="kite shop")
    pending = make_image(alice, "stripes", title="kite pending")
    assert set(find("kite")) == {tagged.pk, plain.pk}  # never an image not indexed
    assert pending.pk not in find("kite")
    assert find("kite", tags=("beach",)) == [tagged.pk]
    assert find("kite", has_text=True) == [tagged.pk]
    assert find("kite", has_text=False) == [plain.pk]
    assert find("kite", owner_id=bob.pk) == [plain.pk]
    assert find("kite", exclude_ids=(plain.pk,)) == [tagged.pk]


def test_like_wildcards_are_literal(alice) -> None:
    image = indexed_image(alice, title="50 % off")
    indexed_image(alice, "square", title="cotton 100")
    assert find("%") == [image.pk]  # LIKE's wildcard, escaped: one literal percent sign
    assert find("_") == []
    assert find('"0 %"') == [image.pk]
