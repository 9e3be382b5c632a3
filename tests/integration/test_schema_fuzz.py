"""Schemathesis against the live OpenAPI schema (/api/schema/): every operation gets bounded,
generated requests, signed out and with a real token, and no answer may be a server error or
contradict the schema. Real query workers answer the searches."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from tests.factories import make_image, make_user
from webapp.wsgi import application

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

EXAMPLES_PER_OPERATION = 50


@pytest.fixture
def live_app(workers, db):
    # As Django's test client does: requests must not close the test's database connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def token(db) -> str:
    owner = make_user("fuzz")
    make_image(owner)
    return Token.objects.create(user=owner).key


# The schema as the running app serves it (its generation needs no database).
schema = schemathesis.openapi.from_wsgi("/api/schema/", application)


@schema.parametrize()
@hypothesis_settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_no_operation_answers_with_a_server_error_or_off_schema(case, token, live_app):
    for headers in ({}, {"Authorization": f"Token {token}"}):
        response = case.call(headers=headers)
        case.validate_response(
            response, checks=[not_a_server_error, response_schema_conformance, content_type_conformance]
        )
