"""The user-facing error family (`core.errors`): each member's status, what the user is told, and
which errors of the apps belong to which member (so the one mapping in `webapp.errors` covers them)."""

from __future__ import annotations

import pytest

from core.errors import BadInput, Forbidden, PayloadTooLarge, ServiceUnavailable, UserFacingError
from ingestion.validation import InvalidImage
from search.engines.encoder.errors import ModelUnavailable, unavailable
from search.engines.vector_store import VectorStoreError
from search.query.queries import BadQuery, QueryUnavailable


@pytest.mark.parametrize(
    ("error_class", "status"),
    [
        (UserFacingError, 400),
        (BadInput, 400),
        (Forbidden, 403),
        (PayloadTooLarge, 413),
        (ServiceUnavailable, 503),
        (InvalidImage, 400),
        (BadQuery, 400),
        (ModelUnavailable, 503),
        (QueryUnavailable, 503),
        (VectorStoreError, 503),
    ],
)
def test_every_member_carries_its_status(error_class: type[UserFacingError], status: int) -> None:
    assert error_class.status_code == status
    assert error_class("x").status_code == status


def test_the_message_is_shown_as_is_by_default() -> None:
    error = BadInput("limit must be between 1 and 200.")
    assert error.message == error.public_message == str(error) == "limit must be between 1 and 200."
    assert error.args == ("limit must be between 1 and 200.",)


def test_a_public_message_overrides_what_the_user_sees_but_not_the_log() -> None:
    error = ServiceUnavailable("Redis at redis://:hunter2@10.0.0.7:6379 refused", public="Try again later.")
    assert error.public_message == "Try again later."
    assert str(error) == "Redis at redis://:hunter2@10.0.0.7:6379 refused"


def test_the_vector_store_error_hides_the_server_address() -> None:
    error = VectorStoreError("Milvus is unreachable at http://10.1.2.3:19530: connection refused")
    assert error.public_message == "The search index is unavailable right now; try again in a moment."
    assert "10.1.2.3" not in error.public_message and "19530" not in error.public_message
    assert "http://10.1.2.3:19530" in str(error)  # operators still see it in logs and /healthz
    assert VectorStoreError("x", public="Search is down.").public_message == "Search is down."


def test_without_a_public_default_the_message_is_public() -> None:
    error = unavailable("demo", "weights missing")
    assert error.public_message == str(error)
    assert "CLIP_MODEL" in error.public_message  # says how to fix it


@pytest.mark.parametrize(
    ("error_class", "parents"),
    [
        (BadInput, (UserFacingError, ValueError)),
        (PayloadTooLarge, (BadInput, UserFacingError)),
        (Forbidden, (UserFacingError,)),
        (ServiceUnavailable, (UserFacingError, RuntimeError)),
        (InvalidImage, (BadInput,)),
        (BadQuery, (BadInput,)),
        (ModelUnavailable, (ServiceUnavailable,)),
        (QueryUnavailable, (ServiceUnavailable,)),
        (VectorStoreError, (ServiceUnavailable,)),
    ],
)
def test_subclass_relations(error_class: type, parents: tuple[type, ...]) -> None:
    for parent in parents:
        assert issubclass(error_class, parent)


@pytest.mark.parametrize(
    ("error_class", "not_a"),
    [
        (Forbidden, BadInput),
        (BadInput, ServiceUnavailable),
        (ServiceUnavailable, BadInput),
        (VectorStoreError, BadInput),
        (InvalidImage, ServiceUnavailable),
    ],
)
def test_members_do_not_overlap(error_class: type, not_a: type) -> None:
    assert not issubclass(error_class, not_a)


def test_retry_after_is_unset_unless_a_member_says_so() -> None:
    assert ServiceUnavailable("x").retry_after_s is None
    assert not hasattr(BadInput("x"), "retry_after_s")
