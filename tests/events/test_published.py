"""Each service that changes something a shop's other systems care about publishes its event, in the same
transaction, with data they can use without asking back (member numbers, decimal strings, ISO moments)."""

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from customers.services import enrol_customer
from events.models import Event
from rewards.models import ExpiryPolicy, Tier
from rewards.selectors import default_program
from rewards.services.adjustments import decide_adjustment, request_adjustment
from rewards.services.expiry import expire_points
from rewards.services.redemption import redeem, undo_redemption
from tests.factories import CustomerFactory, ManagerFactory, RewardFactory, at, default_store, purchase, refund

pytestmark = pytest.mark.django_db


def published(event_type: str) -> list[dict]:
    return list(Event.objects.filter(type=event_type).order_by("id").values_list("data", flat=True))


def test_enrolling_publishes_the_new_customer():
    customer = enrol_customer(name="Ada Lovelace", email="ada@example.com", phone="212 555 0130")
    [data] = published("customer.enrolled")
    assert data["customer"]["member_number"] == customer.member_number
    assert data["customer"]["email"] == "ada@example.com"
    assert data["customer"]["referred_by"] is None


def test_a_purchase_publishes_its_points_and_the_lines_that_make_them():
    customer = CustomerFactory()
    recorded = purchase(customer, "120.00", when=at(2025, 1, 7), receipt="R-1")
    [data] = published("purchase.recorded")
    assert data["customer"] == {"member_number": customer.member_number}
    assert data["transaction"]["id"] == recorded.transaction.pk
    assert data["transaction"]["amount"] == "120.00"
    assert data["transaction"]["receipt_number"] == "R-1"
    assert data["transaction"]["store"] == default_store().code
    assert dt.datetime.fromisoformat(data["transaction"]["occurred_at"]) == at(2025, 1, 7)
    assert data["points"] == 90
    assert sum(line["points"] for line in data["lines"]) == 90
    assert [line["points"] for line in data["lines"]] == [50, 40]


def test_a_resubmitted_purchase_publishes_nothing_more():
    customer = CustomerFactory()
    key = uuid.uuid4()
    purchase(customer, "120.00", when=at(2025, 1, 7), idempotency_key=key)
    purchase(customer, "120.00", when=at(2025, 1, 7), idempotency_key=key)
    assert len(published("purchase.recorded")) == 1


def test_a_refused_purchase_publishes_nothing():
    with pytest.raises(ValidationError):
        purchase(CustomerFactory(), "120.00", when=timezone.now() + dt.timedelta(days=1))
    assert not Event.objects.exists()


def test_a_refund_publishes_the_points_taken_back():
    customer = CustomerFactory()
    recorded = purchase(customer, "120.00", when=at(2025, 1, 7))
    refund(recorded, "30.00", when=at(2025, 1, 8))
    [data] = published("refund.recorded")
    assert data["points"] == -50
    assert data["transaction"]["refund_of"]["id"] == recorded.transaction.pk
    assert data["customer"]["member_number"] == customer.member_number


def test_a_redemption_and_its_undoing_are_published(staff, manager):
    customer = CustomerFactory()
    purchase(customer, "120.00", when=at(2025, 1, 7))
    reward = RewardFactory(points_cost=50)
    redemption = redeem(customer=customer, reward=reward, store=default_store(), redeemed_by=staff)
    undo_redemption(redemption=redemption, undone_by=manager)
    spent, given_back = published("redemption.recorded")
    assert (spent["points"], given_back["points"]) == (-50, 50)
    assert spent["redemption"]["reward"]["name"] == reward.name
    assert spent["redemption"]["undone_at"] is None and given_back["redemption"]["undone_at"] is not None


def test_an_adjustment_is_published_when_it_posts_not_while_it_waits(manager):
    customer = CustomerFactory()
    request_adjustment(customer=customer, points=20, reason="goodwill", requested_by=manager)
    waiting = request_adjustment(customer=customer, points=900, reason="lost card", requested_by=manager)
    assert [data["points"] for data in published("adjustment.posted")] == [20]
    decide_adjustment(request=waiting, decided_by=ManagerFactory(), approve=True)
    posted = published("adjustment.posted")
    assert [data["points"] for data in posted] == [20, 900]
    assert posted[1]["approved_by"] is not None and posted[1]["reason"] == "lost card"


def test_a_purchase_that_reaches_a_tier_publishes_the_change():
    Tier.objects.create(program=default_program(), name="VIB", rank=1, threshold=80, multiplier=Decimal("1.25"))
    customer = CustomerFactory()
    purchase(customer, "120.00", when=timezone.now() - dt.timedelta(hours=1))
    [data] = published("tier.changed")
    assert data == data | {"from": None, "to": "VIB", "direction": "up"}
    assert data["customer"]["member_number"] == customer.member_number


def test_expired_points_are_published_per_customer(manager, monkeypatch):
    ExpiryPolicy.objects.create(
        program=default_program(), effective_month=dt.date(2024, 1, 1), kind="after_months", months=1,
        changed_by=manager,
    )  # fmt: skip
    customer = CustomerFactory()
    purchase(customer, "120.00", when=at(2025, 1, 10))
    expire_points(day=dt.date(2025, 3, 2))
    [data] = published("points.expired")
    assert data["points"] == -90
    assert data["lots"] == [{"earned_in": "2025-01", "points": -90}]
