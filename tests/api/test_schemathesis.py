"""schemathesis (from PyPI) against the API's own OpenAPI document, fetched from /api/v1/schema/ in-process (WSGI):
for every operation, valid and invalid requests that it generates from the document; no answer may be a 5xx or
break the document (status code, content type, body, headers), and invalid data must be refused.

schemathesis' own pytest plugin does not run under pytest 9 yet (it sets a node attribute pytest removed), so
each operation's Hypothesis strategy is driven here with `given`, which is what the plugin does underneath.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.keys import create_api_key
from tests.factories import CustomerFactory, RewardFactory, purchase

pytestmark = pytest.mark.django_db

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
OPERATIONS = [
    ("GET", "/api/v1/customers"),
    ("POST", "/api/v1/customers"),
    ("GET", "/api/v1/customers/{member_number}"),
    ("GET", "/api/v1/customers/{member_number}/ledger"),
    ("POST", "/api/v1/purchases"),
    ("POST", "/api/v1/redemptions"),
    ("POST", "/api/v1/refunds"),
    ("GET", "/api/v1/reports/points"),
    ("GET", "/api/v1/rewards"),
]
# Examples per operation and mode: enough to find what a field's bounds and types let through, few enough that
# the whole run takes seconds.
EXAMPLES = 12


@pytest.fixture
def api_key(db):
    """A manager's key, and something to find: a customer with a purchase, a reward."""
    customer = CustomerFactory(member_number="M100")
    purchase(customer, "120.00", receipt="R1")
    RewardFactory(points_cost=10)
    return create_api_key(name="schemathesis", role="manager").secret


@pytest.fixture
def api_schema(api_key):
    # The requests run in the test's thread and database transaction: Django must not close the connection
    # at each request's start and end (its own test client arranges the same).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi(
            "/api/v1/schema/?format=json", get_wsgi_application(), headers={"Authorization": f"Bearer {api_key}"}
        )
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def test_the_document_lists_every_operation_tested_here(api_schema):
    listed = sorted((result.ok().method.upper(), result.ok().path) for result in api_schema.get_all_operations())
    assert listed == sorted(OPERATIONS)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{method} {path}" for method, path in OPERATIONS])
def test_the_api_answers_as_its_document_says(api_schema, api_key, method, path):
    operation = api_schema[path][method]
    headers = {"Authorization": f"Bearer {api_key}"}
    for mode, checks in (
        (GenerationMode.POSITIVE, CHECKS),
        (GenerationMode.NEGATIVE, [*CHECKS, negative_data_rejection]),
    ):

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def answers_as_documented(case):
            case.call_and_validate(headers=headers, checks=checks)  # noqa: B023 - called within this iteration

        answers_as_documented()
