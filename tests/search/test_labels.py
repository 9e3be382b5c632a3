"""Suggested labels (issue 21): zero-shot scores of each image's vector against the English and
Chinese vocabulary, with a per-family floor, off for the demo models; the prompt vectors computed
once per model; images labelled at indexing and by the backfill chain. The mechanics run on known
answers: the prompt vectors of a model are set to unit vectors and images given vectors near them."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from ingestion.models import Image
from search.engines.encoder import get_encoder
from search.engines.encoder.families import CHINESE_CLIP, CLIP, SIGLIP
from search.models import LabelRun, LabelTextEmbedding, SuggestedLabel
from search.pipeline import chains, labels
from search.pipeline.reconcile import reconcile
from search.pipeline.worker_status import redis_client
from tests.factories import give_vector, index, make_image, make_user

DIM = 8
# The prompt vectors a test model is given: label i points along axis i.
KNOWN = ["cat", "beach", "food", "document", "screenshot"]


def unit(*weights: float) -> np.ndarray:
    vector = np.zeros(DIM, dtype=np.float32)
    vector[: len(weights)] = weights
    return vector / np.linalg.norm(vector)


def known_matrix(model_id: str) -> None:
    """The model's prompt vectors, as if its text tower had embedded them: one axis per label."""
    labels.store_matrix(model_id, labels.vocabulary(), KNOWN, np.eye(len(KNOWN), DIM, dtype=np.float32))


def indexed_with(owner, vector: np.ndarray, model_id: str, **kwargs) -> Image:
    image = make_image(owner, **kwargs)
    give_vector(image, vector, model_id)
    Image.objects.filter(pk=image.pk).update(status=Image.Status.INDEXED)
    return image


def suggested(image: Image) -> dict[str, float]:
    return dict(SuggestedLabel.objects.filter(image=image).values_list("label", "score"))


# ---------------------------------------------------------------------------- the vocabulary


def test_the_vocabulary_has_a_few_hundred_everyday_categories_in_both_languages() -> None:
    vocab = labels.vocabulary()
    assert len(vocab.labels) >= 300
    assert {"food", "beach", "cat", "document", "screenshot"} <= {label.slug for label in vocab.labels}
    assert len({label.slug for label in vocab.labels}) == len(vocab.labels)
    assert len({label.zh for label in vocab.labels}) == len(vocab.labels)
    for label in vocab.labels:
        assert label.en and label.zh and label.prompt_en and label.prompt_zh, label
        assert label.en in label.prompt_en and label.zh in label.prompt_zh
    cat = vocab.get("cat")
    assert (cat.prompt_en, cat.prompt_zh) == ("a photo of a cat.", "一张猫的照片。")
    assert (cat.name("en"), cat.name("zh-hans")) == ("cat", "猫")


def test_each_family_reads_the_prompts_in_its_languages() -> None:
    beach = labels.vocabulary().get("beach")
    assert beach.prompts(CLIP) == ("a photo of a beach.",)
    assert beach.prompts(CHINESE_CLIP) == ("一张海滩的照片。",)
    assert beach.prompts(SIGLIP) == ("a photo of a beach.", "一张海滩的照片。")
    # A search for the label uses words the model reads, in the viewer's language where it can.
    assert beach.query_words(CLIP, "zh-hans") == "beach"
    assert beach.query_words(CHINESE_CLIP, "en") == "海滩"
    assert beach.query_words(SIGLIP, "zh-hans") == "海滩"


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["labels"].append(dict(d["labels"][0])),  # a repeated slug
        lambda d: d["labels"][0].update(slug="Not A Slug"),
        lambda d: d["templates"]["a"].update(en="a photo"),  # no place for the name
    ],
)
def test_a_malformed_vocabulary_is_refused(change) -> None:
    data = json.loads(labels.VOCABULARY_FILE.read_bytes())
    change(data)
    with pytest.raises(ValueError):
        labels.parse_vocabulary(json.dumps(data).encode())


# ---------------------------------------------------------------------------- on and off


@pytest.mark.django_db
def test_off_with_the_demo_models_and_the_reason_says_why(settings) -> None:
    settings.LABELS = "auto"
    assert settings.CLIP_MODEL == "demo"
    assert labels.enabled() is False
    assert "demo model" in labels.off_reason()
    known_matrix("demo")
    image = indexed_with(make_user(), unit(1), "demo")
    assert labels.label_images([image.pk]) == []
    assert not SuggestedLabel.objects.exists() and not LabelRun.objects.exists()
    assert labels.next_batch() == [] and labels.start_chain() is False

    settings.LABELS = "off"
    assert labels.off_reason() == "Suggested labels are turned off (LABELS=off)."
    settings.LABELS = "on"
    assert labels.enabled() is True and labels.off_reason() == ""


# ---------------------------------------------------------------------------- scoring


@pytest.mark.django_db
def test_an_image_gets_the_labels_its_vector_points_at(settings) -> None:
    settings.LABELS = "on"
    known_matrix("demo")
    alice = make_user()
    cat = indexed_with(alice, unit(1, 0.1), "demo", tags=["my own tag"])
    beach_food = indexed_with(alice, unit(0, 1, 1), "demo")  # between two labels
    neither = indexed_with(alice, unit(0, 0, 0, 0, 0, 1), "demo")  # an axis no label has

    assert labels.label_images([cat.pk, beach_food.pk, neither.pk]) == sorted(
        [cat.pk, beach_food.pk, neither.pk]
    )

    assert suggested(cat) == {"cat": pytest.approx(0.995, abs=1e-3)}
    assert suggested(beach_food) == {
        "beach": pytest.approx(0.7071, abs=1e-3),
        "food": pytest.approx(0.7071, abs=1e-3),
    }
    assert suggested(neither) == {}  # scored, nothing passed the floor; its run is recorded
    assert set(LabelRun.objects.values_list("image_id", "model_id")) == {
        (cat.pk, "demo"), (beach_food.pk, "demo"), (neither.pk, "demo")
    }  # fmt: skip
    assert cat.tag_names() == ["my own tag"]  # the owner's tags are untouched

    # Labelled again (a new vector): the suggestions are replaced, not added to.
    give_vector(cat, unit(0, 0, 0, 1), "demo")
    labels.label_images([cat.pk])
    assert suggested(cat) == {"document": pytest.approx(1.0)}


@pytest.mark.django_db
def test_at_most_five_labels_best_first() -> None:
    matrix = np.eye(7, DIM, dtype=np.float32)
    found = labels.suggest(np.ones((1, DIM), np.float32) + np.arange(DIM) / 100, matrix, list("abcdefg"), 0.0)
    assert [slug for slug, _ in found[0]] == ["g", "f", "e", "d", "c"]


@pytest.mark.django_db
def test_the_floor_is_the_model_familys(settings) -> None:
    """A cosine of 0.2 is weak for CLIP (floor 0.26) but strong for SigLIP's sigmoid-trained space
    (0.09); LABEL_MIN_SCORE, set, holds for every family."""
    settings.LABELS = "on"
    alice = make_user()
    weak = unit(0.2, 0, 0, 0, 0, np.sqrt(1 - 0.04))  # cosine 0.2 with "cat"
    for model_id in ("demo", "demo-zh", "demo-siglip"):
        known_matrix(model_id)
    clip = indexed_with(alice, weak, "demo")
    chinese = indexed_with(alice, weak, "demo-zh")
    siglip = indexed_with(alice, weak, "demo-siglip")
    assert (labels.min_score("demo"), labels.min_score("demo-siglip")) == (0.26, 0.09)

    for image, model_id in ((clip, "demo"), (chinese, "demo-zh"), (siglip, "demo-siglip")):
        settings.CLIP_MODEL = model_id  # each image's vector is of the model it is labelled with
        labels.label_images([image.pk])
    assert (suggested(clip), suggested(chinese)) == ({}, {})
    assert suggested(siglip) == {"cat": pytest.approx(0.2, abs=1e-4)}

    settings.LABEL_MIN_SCORE = 0.15
    settings.CLIP_MODEL = "demo"
    labels.label_images([clip.pk])
    assert suggested(clip) == {"cat": pytest.approx(0.2, abs=1e-4)}


@pytest.mark.django_db
def test_an_image_of_another_dimension_or_without_prompt_vectors_is_left_alone(settings) -> None:
    settings.LABELS = "on"
    known_matrix("demo")
    alice = make_user()
    other_dim = indexed_with(alice, np.ones(DIM * 2, np.float32), "demo")
    no_matrix = indexed_with(alice, unit(1), "some/other-model")
    assert labels.label_images([other_dim.pk, no_matrix.pk]) == []
    assert not LabelRun.objects.exists()


# ---------------------------------------------------------------------------- prompt vectors


@pytest.mark.django_db
def test_the_prompt_vectors_are_computed_once_per_model_by_its_text_tower(settings) -> None:
    settings.LABELS = "on"
    encoder = get_encoder("demo")
    calls = []
    real = encoder.encode_texts

    def counting(texts):
        calls.append(list(texts))
        return real(texts)

    encoder.encode_texts = counting
    try:
        slugs, matrix = labels.label_matrix("demo", encoder)
        again_slugs, again = labels.label_matrix("demo", encoder)
    finally:
        del encoder.encode_texts
    vocab = labels.vocabulary()
    assert len(calls) == 1 and calls[0][0] == vocab.labels[0].prompt_en  # CLIP reads English
    assert len(calls[0]) == len(vocab.labels)
    assert slugs == again_slugs == [label.slug for label in vocab.labels]
    assert matrix.shape == (len(vocab.labels), encoder.dim)
    np.testing.assert_allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(matrix, again)
    np.testing.assert_allclose(matrix[0], real([vocab.labels[0].prompt_en])[0], atol=1e-5)
    assert LabelTextEmbedding.objects.filter(model_id="demo", vocabulary=vocab.digest).count() == 1
    # No encoder of that model, nothing stored: nothing to score with (the backfill computes it).
    assert labels.label_matrix("demo-zh", encoder) is None


# ---------------------------------------------------------------------------- indexing, backfill


@pytest.fixture
def no_chain():
    redis_client().delete(labels.CHAIN_KEY)
    yield
    redis_client().delete(labels.CHAIN_KEY)


@pytest.mark.django_db
@pytest.mark.usefixtures("clean_index")
def test_indexing_labels_the_images_it_indexes(settings) -> None:
    settings.LABELS, settings.LABEL_MIN_SCORE = "on", -1.0  # random weights: every label passes
    image = make_image(make_user())
    index(image)
    assert LabelRun.objects.get(image=image).model_id == "demo"
    assert len(suggested(image)) == labels.MAX_PER_IMAGE
    assert LabelTextEmbedding.objects.filter(model_id="demo").exists()  # computed by the ingest encoder


@pytest.mark.django_db
@pytest.mark.usefixtures("clean_index")
def test_indexing_goes_on_when_labelling_fails(settings, monkeypatch) -> None:
    settings.LABELS = "on"

    def broken(*args, **kwargs):
        raise RuntimeError("no labels today")

    monkeypatch.setattr(labels, "label_images", broken)
    image = make_image(make_user())
    assert index(image).indexed == [image.pk]
    assert image.status == Image.Status.INDEXED and not LabelRun.objects.exists()


@pytest.mark.django_db
def test_reconcile_starts_the_backfill_and_the_chain_labels_every_image(
    settings, monkeypatch, no_chain
) -> None:
    settings.LABELS = "on"
    known_matrix("demo")
    alice = make_user()
    images = [indexed_with(alice, unit(*([0] * i), 1), "demo") for i in range(3)]
    pending = make_image(alice)  # not indexed: not labelled
    sent = []

    def send_task(name: str, **kwargs) -> None:
        if name == labels.TASK:
            sent.append(name)

    monkeypatch.setattr(chains.current_app, "send_task", send_task)
    monkeypatch.setattr(labels, "BATCH", 2)
    assert labels.outdated_ids() == [i.pk for i in images]

    report = reconcile()
    assert (report.labels_outdated, report.labels_started) == (3, True)
    assert reconcile().labels_started is False  # one chain at a time
    assert labels.run_batch() == {"labelled": 2, "remaining": 1}
    assert sent == [labels.TASK] * 2 and redis_client().exists(labels.CHAIN_KEY)
    assert labels.run_batch() == {"labelled": 1, "remaining": 0}
    assert not redis_client().exists(labels.CHAIN_KEY) and sent == [labels.TASK] * 2
    assert [suggested(i) for i in images] == [{"cat": 1.0}, {"beach": 1.0}, {"food": 1.0}]
    assert not LabelRun.objects.filter(image=pending).exists()
    assert reconcile().labels_outdated == 0

    # Another vocabulary (an upgrade added entries): every image is labelled again.
    upgraded = replace(labels.vocabulary(), digest="another")
    monkeypatch.setattr(labels, "vocabulary", lambda: upgraded)
    assert labels.outdated_ids() == [i.pk for i in images]


@pytest.mark.django_db
def test_the_backfill_embeds_the_prompts_with_the_workers_model_when_none_are_stored(
    settings, no_chain
) -> None:
    settings.LABELS, settings.LABEL_MIN_SCORE = "on", -1.0
    encoder = get_encoder("demo")
    image = indexed_with(make_user(), encoder.encode_texts(["a photo of a cat."])[0], "demo")
    assert labels.run_batch() == {"labelled": 1, "remaining": 0}
    assert next(iter(suggested(image))) == "cat"  # its own prompt's vector scores best
    assert LabelTextEmbedding.objects.filter(model_id="demo").count() == 1
