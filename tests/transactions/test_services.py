"""Recording purchases and refunds: the transaction, its ledger entry and the roll-up, together."""

import datetime as dt
import uuid
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from rewards.engine import Band, Rule
from rewards.models import CustomerMonthPoints, PointsEntry
from rewards.selectors import customer_balance, default_program, rule_version_at
from rewards.services.ledger import rollup_rows
from rewards.services.program import publish_rule_version
from tests.factories import CustomerFactory, StoreFactory, at, default_store, purchase, refund
from transactions.models import Transaction
from transactions.services import record_purchase

pytestmark = pytest.mark.django_db


def test_a_120_purchase_earns_90_points_in_the_ledger():
    customer = CustomerFactory()
    recorded = purchase(customer, "120.00")
    assert recorded.created
    assert recorded.transaction.kind == Transaction.Kind.PURCHASE
    entry = PointsEntry.objects.get(transaction=recorded.transaction)
    assert (entry.kind, entry.points) == (PointsEntry.Kind.EARN, 90)
    assert entry.rule_version == rule_version_at(recorded.transaction.occurred_at)
    assert entry.explanation == "120.00: 50 × 1 (50–100) + 20 × 2 (over 100) = 90"
    assert customer_balance(customer.pk) == 90


def test_a_purchase_below_the_first_band_still_has_its_zero_entry():
    customer = CustomerFactory()
    purchase(customer, "10.00")
    assert list(PointsEntry.objects.values_list("kind", "points")) == [("earn", 0)]


def test_partial_refund_of_30_from_120_leaves_the_points_of_90():
    customer = CustomerFactory()
    recorded = purchase(customer, "120.00")
    refunded = refund(recorded, "30.00")
    assert refunded.transaction.kind == Transaction.Kind.REFUND
    assert refunded.transaction.refund_of == recorded.transaction
    assert refunded.entry.points == -50
    assert refunded.entry.corrects == recorded.entry
    assert customer_balance(customer.pk) == 40  # what 90.00 earns
    recorded.transaction.refresh_from_db()
    assert recorded.transaction.refunded_amount == Decimal("30.00")


def test_successive_refunds_down_to_zero_take_back_everything():
    customer = CustomerFactory()
    recorded = purchase(customer, "250.00")
    for part in ["100.00", "100.00", "50.00"]:
        refund(recorded, part)
    assert customer_balance(customer.pk) == 0
    assert list(PointsEntry.objects.filter(kind="reversal").order_by("id").values_list("points", flat=True)) == [
        -200,  # 250 earns 350, 150 earns 150
        -150,  # 50 earns nothing
        0,
    ]


def test_a_refund_larger_than_what_is_left_is_refused_and_writes_nothing():
    customer = CustomerFactory()
    recorded = purchase(customer, "120.00")
    refund(recorded, "100.00")
    with pytest.raises(ValidationError) as error:
        refund(recorded, "20.01")
    assert "cannot exceed what is left of the purchase (20.00)" in str(error.value)
    assert Transaction.objects.filter(kind="refund").count() == 1
    assert PointsEntry.objects.filter(kind="reversal").count() == 1


@pytest.mark.parametrize("amount", ["0.00", "-1.00"])
def test_a_refund_must_be_positive(amount):
    recorded = purchase(CustomerFactory(), "120.00")
    with pytest.raises(ValidationError):
        refund(recorded, amount)


def test_a_refund_cannot_be_refunded():
    recorded = purchase(CustomerFactory(), "120.00")
    refunded = refund(recorded, "10.00")
    with pytest.raises(ValidationError, match="Only a purchase"):
        from transactions.services import record_refund

        record_refund(purchase=refunded.transaction, amount=Decimal("1.00"))


def test_a_refund_cannot_happen_before_its_purchase():
    recorded = purchase(CustomerFactory(), "120.00", when=at(2025, 3, 10))
    with pytest.raises(ValidationError, match="before its purchase"):
        refund(recorded, "10.00", when=at(2025, 3, 9))


@pytest.mark.parametrize("amount", [Decimal("-0.01"), Decimal("1.005"), Decimal("NaN"), Decimal("99999999999")])
def test_bad_amounts_are_refused(amount):
    with pytest.raises(ValidationError):
        record_purchase(customer=CustomerFactory(), store=default_store(), amount=amount)
    assert not Transaction.objects.exists()


def test_naive_moments_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        record_purchase(
            customer=CustomerFactory(), store=default_store(), amount=Decimal("1"), occurred_at=dt.datetime(2025, 1, 1)
        )


def test_the_same_idempotency_key_records_once():
    customer = CustomerFactory()
    key = uuid.uuid4()
    first = purchase(customer, "120.00", idempotency_key=key)
    second = purchase(customer, "120.00", idempotency_key=key)
    assert first.created and not second.created
    assert second.transaction.pk == first.transaction.pk
    assert Transaction.objects.count() == 1
    assert customer_balance(customer.pk) == 90


def test_a_receipt_number_is_unique_within_its_store_only():
    customer = CustomerFactory()
    purchase(customer, "10.00", receipt="A-1")
    with pytest.raises(ValidationError) as error:
        purchase(customer, "20.00", receipt="A-1")
    assert error.value.message_dict == {"receipt_number": ["Receipt A-1 is already recorded at Main store."]}
    purchase(customer, "20.00", receipt="A-1", store=StoreFactory())
    assert Transaction.objects.count() == 2


def test_a_blank_receipt_number_is_generated():
    recorded = purchase(CustomerFactory(), "10.00", when=at(2025, 2, 3))
    assert recorded.transaction.receipt_number.startswith("R20250203-")


def test_purchases_earn_by_the_version_in_force_at_their_moment_and_refunds_reverse_by_the_purchase_version():
    customer = CustomerFactory()
    before = purchase(customer, "120.00", when=timezone.now() - dt.timedelta(days=2))
    flat = publish_rule_version(
        program=default_program(),
        rule=Rule(bands=(Band(threshold=0, rate=Decimal(10)),)),
        effective_from=timezone.now() + dt.timedelta(hours=1),
    )
    # A version that starts in the future does not apply yet.
    assert purchase(customer, "10.00").entry.points == 0
    # Three hours later (a purchase or refund is never in the future):
    with time_machine.travel(timezone.now() + dt.timedelta(hours=3), tick=False):
        later = purchase(customer, "10.00", when=timezone.now() - dt.timedelta(hours=1))
        assert later.entry.rule_version == flat
        assert later.entry.points == 100
        # A refund after the change still reverses by the classic rule the purchase earned with.
        reversed_ = refund(before, "30.00", when=timezone.now())
        assert reversed_.entry.rule_version == before.entry.rule_version
        assert reversed_.entry.points == -50


def test_roll_up_equals_the_ledger_grouped_by_month_in_the_merchant_time_zone(settings):
    settings.TIME_ZONE = "America/New_York"
    customer = CustomerFactory()
    # 23:30 on 31 January in New York is February in UTC: it counts in January.
    january = purchase(customer, "120.00", when=at(2025, 1, 31, 23, 30))
    purchase(customer, "75.00", when=at(2025, 2, 1, 0, 30))
    refund(january, "30.00", when=at(2025, 2, 2))
    rows = {(r.month.isoformat(), r.earned, r.reversed, r.entries) for r in CustomerMonthPoints.objects.all()}
    assert rows == {("2025-01-01", 90, 0, 1), ("2025-02-01", 25, -50, 2)}
    ledger = {
        (r["entry_month"].isoformat(), r["earned"], r["reversed"]) for r in rollup_rows(PointsEntry.objects.all())
    }
    assert ledger == {("2025-01-01", 90, 0), ("2025-02-01", 25, -50)}


def test_a_resubmitted_full_refund_returns_the_first_refund():
    recorded = purchase(CustomerFactory(), "120.00")
    key = uuid.uuid4()
    first = refund(recorded, "120.00", idempotency_key=key)
    again = refund(recorded, "120.00", idempotency_key=key)  # nothing is left to refund, yet it is the same form
    assert first.created and not again.created
    assert again.transaction.pk == first.transaction.pk
    assert Transaction.objects.filter(kind="refund").count() == 1


def test_a_key_used_by_a_purchase_cannot_record_a_refund():
    customer = CustomerFactory()
    key = uuid.uuid4()
    recorded = purchase(customer, "120.00", idempotency_key=key)
    with pytest.raises(ValidationError, match="already used to record something else"):
        refund(recorded, "10.00", idempotency_key=key)
    assert Transaction.objects.filter(kind="refund").count() == 0
