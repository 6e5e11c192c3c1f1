"""Idempotency-Key on every POST: a retry answers the first response and writes nothing; another body is refused."""

import datetime as dt
import uuid

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from api.models import IdempotencyRecord
from api.tasks import forget_idempotency_keys
from audit.models import AuditEvent
from customers.models import Customer
from rewards.models import PointsEntry, Redemption
from rewards.services.ledger import rollup_differences
from tests.concurrency import at_once
from tests.factories import CustomerFactory, RewardFactory, purchase
from tests.migration_rows import restore_migration_rows
from transactions.models import Transaction

from .conftest import ApiClient, problem

pytestmark = pytest.mark.django_db

PURCHASE = {"customer": "M100", "amount": "120.00"}


def test_a_retried_purchase_answers_the_first_response_and_records_once(staff_api, customer):
    key = str(uuid.uuid4())
    first = staff_api.post("purchases", PURCHASE, idempotency_key=key)
    again = staff_api.post("purchases", {"amount": "120.00", "customer": "M100"}, idempotency_key=key)  # keys reordered

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert Transaction.objects.count() == 1 and PointsEntry.objects.count() == 1
    calls = AuditEvent.objects.filter(event="api_call").order_by("id")
    assert [call.additional_data.get("replayed", False) for call in calls] == [False, True]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("customers", {"name": "Nadia Novak"}),
        ("refunds", {"purchase": {"receipt_number": "R1", "store": "main"}, "amount": "10.00"}),
        ("redemptions", {"customer": "M100", "reward": "REWARD"}),
    ],
)
def test_every_post_is_idempotent(staff_api, customer, path, body):
    purchase(customer, "120.00", receipt="R1")
    if path == "redemptions":
        body = body | {"reward": RewardFactory(points_cost=10).pk}
    before = (Customer.objects.count(), Transaction.objects.count(), Redemption.objects.count())
    first = staff_api.post(path, body, idempotency_key="k-1")
    assert first.status_code == 201, first.content
    assert staff_api.post(path, body, idempotency_key="k-1").json() == first.json()
    after = (Customer.objects.count(), Transaction.objects.count(), Redemption.objects.count())
    assert sum(after) - sum(before) == 1


def test_the_same_key_with_another_body_is_refused_and_writes_nothing(staff_api, customer):
    staff_api.post("purchases", PURCHASE, idempotency_key="k-2")
    refused = staff_api.post("purchases", PURCHASE | {"amount": "12.00"}, idempotency_key="k-2")
    body = problem(refused)
    assert body["status"] == 422 and body["type"].endswith("/problems/idempotency-key-reused")
    elsewhere = staff_api.post("refunds", {"purchase": {"id": 1}, "amount": "1.00"}, idempotency_key="k-2")
    assert problem(elsewhere)["type"].endswith("/problems/idempotency-key-reused")
    assert Transaction.objects.count() == 1


def test_keys_belong_to_one_api_key(make_key, customer):
    _, first = make_key("staff")
    _, second = make_key("staff")
    assert first.post("purchases", PURCHASE, idempotency_key="shared").status_code == 201
    assert second.post("purchases", PURCHASE, idempotency_key="shared").status_code == 201
    assert Transaction.objects.count() == 2


def test_a_refused_request_keeps_no_record_so_the_corrected_one_may_use_the_key(staff_api, customer):
    assert staff_api.post("purchases", PURCHASE | {"amount": 120}, idempotency_key="k-3").status_code == 422
    assert not IdempotencyRecord.objects.exists()
    assert staff_api.post("purchases", PURCHASE, idempotency_key="k-3").status_code == 201


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "naïve"])
def test_a_malformed_idempotency_key_is_refused_beside_the_header(staff_api, customer, key):
    body = problem(staff_api.post("purchases", PURCHASE, idempotency_key=key))
    assert body["errors"] == [
        {"header": "Idempotency-Key", "detail": "An Idempotency-Key is 1 to 255 visible ASCII characters, e.g. a UUID."}
    ]
    assert not Transaction.objects.exists()


def test_records_are_forgotten_after_the_days_the_settings_keep_them(staff_api, customer, settings):
    settings.LOYALTY_API_IDEMPOTENCY_DAYS = 7
    staff_api.post("purchases", PURCHASE, idempotency_key="old")
    with time_machine.travel(timezone.now() + dt.timedelta(days=6, hours=23)):
        assert forget_idempotency_keys() == 0
    with time_machine.travel(timezone.now() + dt.timedelta(days=7, minutes=1)):
        assert forget_idempotency_keys() == 1
    call_command("forget_idempotency_keys")  # the command for cron does the same
    assert not IdempotencyRecord.objects.exists()


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_with_one_key_record_once_and_answer_alike(make_key):
    """Eight connections send the same purchase with the same key at the same moment: the first records it, the
    others wait on its uncommitted key and then answer its response (never a 500 from the unique key)."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers, so the requests cannot race")
    restore_migration_rows()  # a transactional test may follow one that emptied the database
    CustomerFactory(member_number="M100")
    _, api = make_key("staff")
    key = str(uuid.uuid4())

    def send():
        response = ApiClient(api.secret).post("purchases", PURCHASE, idempotency_key=key)
        return response.status_code, response.content

    answers = at_once(8, send)
    assert [status for status, _ in answers] == [201] * 8
    assert len({content for _, content in answers}) == 1
    assert Transaction.objects.count() == 1 and PointsEntry.objects.count() == 1
    assert IdempotencyRecord.objects.count() == 1
    assert rollup_differences() == []
