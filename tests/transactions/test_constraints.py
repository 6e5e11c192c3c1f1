"""The database itself refuses rows that must never exist, whatever code writes them. Each test names the
constraint it expects (the `refused_by` fixture), so it cannot pass because another one fired."""

from decimal import Decimal

import pytest
from django.utils import timezone

from rewards.models import PointsEntry
from rewards.selectors import default_program
from tests.factories import CustomerFactory, ManagerFactory, default_store, purchase
from transactions.models import Transaction

pytestmark = pytest.mark.django_db


def _transaction(**fields):
    defaults = {
        "customer": fields.pop("customer", None) or CustomerFactory(),
        "store": default_store(),
        "kind": "purchase",
        "amount": Decimal("10.00"),
        "receipt_number": "X-1",
    }
    return Transaction.objects.create(**{**defaults, **fields})


def test_negative_amount_is_refused(refused_by):
    with refused_by(Transaction, "transaction_amount_not_negative"):
        _transaction(amount=Decimal("-0.01"))


def test_duplicate_receipt_in_a_store_is_refused(refused_by):
    _transaction()
    with refused_by(Transaction, "transaction_receipt_unique_in_store"):
        _transaction()


def test_refunds_beyond_the_purchase_are_refused(refused_by):
    with refused_by(Transaction, "transaction_refunds_within_purchase"):
        _transaction(refunded_amount=Decimal("10.01"))


def test_a_refund_must_point_at_its_purchase(refused_by):
    with refused_by(Transaction, "transaction_refund_points_at_purchase"):
        _transaction(kind="refund")


def test_a_purchase_cannot_point_at_another_purchase(refused_by):
    first = _transaction()
    with refused_by(Transaction, "transaction_refund_points_at_purchase"):
        _transaction(refund_of=first, receipt_number="X-2")


def test_unknown_kind_is_refused(refused_by):
    # A kind that is neither purchase nor refund breaks both (PostgreSQL reports the first by name, SQLite by place).
    with refused_by(Transaction, "transaction_kind_valid", "transaction_refund_points_at_purchase"):
        _transaction(kind="gift")


def _entry(**fields):
    defaults = {"customer": CustomerFactory(), "points": 10, "effective_at": timezone.now()}
    return PointsEntry.objects.create(**{**defaults, **fields})


def test_an_earn_entry_without_its_purchase_is_refused(refused_by):
    version = default_program().versions.get()
    with refused_by(PointsEntry, "pointsentry_earn_has_purchase_and_rule"):
        _entry(kind="earn", rule_version=version)


def test_an_earn_entry_without_its_rule_version_is_refused(refused_by):
    # A purchase without an earn entry yet, so that only the missing rule version can be refused.
    bare = _transaction()
    with refused_by(PointsEntry, "pointsentry_earn_has_purchase_and_rule"):
        _entry(kind="earn", transaction=bare, customer=bare.customer)


def test_a_purchase_earns_only_once(refused_by):
    recorded = purchase(CustomerFactory(), "120.00")
    with refused_by(PointsEntry, "pointsentry_one_earn_per_purchase"):
        _entry(
            kind="earn",
            transaction=recorded.transaction,
            rule_version=recorded.entry.rule_version,
            customer=recorded.transaction.customer,
        )


def test_a_reversal_without_the_entry_it_corrects_is_refused(refused_by):
    recorded = purchase(CustomerFactory(), "120.00")
    with refused_by(PointsEntry, "pointsentry_reversal_has_refund_and_earn"):
        _entry(kind="reversal", points=-10, transaction=recorded.transaction, rule_version=recorded.entry.rule_version)


def test_an_adjustment_needs_an_author_and_a_reason(refused_by):
    with refused_by(PointsEntry, "pointsentry_adjustment_has_author_and_reason"):
        _entry(kind="adjustment", reason="goodwill")
    with refused_by(PointsEntry, "pointsentry_adjustment_has_author_and_reason"):
        _entry(kind="adjustment", created_by=ManagerFactory())
    assert _entry(kind="adjustment", created_by=ManagerFactory(), reason="goodwill").pk


def test_expiry_and_redemption_take_points_away_and_carry_their_cause(refused_by):
    with refused_by(PointsEntry, "pointsentry_expiry_has_reason"):
        _entry(kind="expiry", points=-5)
    with refused_by(PointsEntry, "pointsentry_expiry_has_reason"):
        _entry(kind="expiry", points=5, reason="12 months")
    with refused_by(PointsEntry, "pointsentry_redemption_has_author"):
        _entry(kind="redemption", points=-5)
    assert _entry(kind="redemption", points=-5, created_by=ManagerFactory()).pk
