"""The database itself refuses rows that must never exist, whatever code writes them."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from rewards.models import PointsEntry
from rewards.selectors import default_program
from tests.factories import CustomerFactory, ManagerFactory, default_store, purchase
from transactions.models import Transaction

pytestmark = pytest.mark.django_db


def _refused(create):
    with pytest.raises(IntegrityError), transaction.atomic():
        create()


def _transaction(**fields):
    defaults = {
        "customer": fields.pop("customer", None) or CustomerFactory(),
        "store": default_store(),
        "kind": "purchase",
        "amount": Decimal("10.00"),
        "receipt_number": "X-1",
    }
    return Transaction.objects.create(**{**defaults, **fields})


def test_negative_amount_is_refused():
    _refused(lambda: _transaction(amount=Decimal("-0.01")))


def test_duplicate_receipt_in_a_store_is_refused():
    _transaction()
    _refused(lambda: _transaction())


def test_refunds_beyond_the_purchase_are_refused():
    _refused(lambda: _transaction(refunded_amount=Decimal("10.01")))


def test_a_refund_must_point_at_its_purchase():
    _refused(lambda: _transaction(kind="refund"))


def test_a_purchase_cannot_point_at_another_purchase():
    first = _transaction()
    _refused(lambda: _transaction(refund_of=first, receipt_number="X-2"))


def test_unknown_kind_is_refused():
    _refused(lambda: _transaction(kind="gift"))


def _entry(**fields):
    defaults = {"customer": CustomerFactory(), "points": 10, "effective_at": timezone.now()}
    return PointsEntry.objects.create(**{**defaults, **fields})


def test_an_earn_entry_without_its_purchase_is_refused():
    version = default_program().versions.get()
    _refused(lambda: _entry(kind="earn", rule_version=version))


def test_an_earn_entry_without_its_rule_version_is_refused():
    recorded = purchase(CustomerFactory(), "10.00")
    _refused(lambda: _entry(kind="earn", transaction=recorded.transaction, customer=recorded.transaction.customer))


def test_a_purchase_earns_only_once():
    recorded = purchase(CustomerFactory(), "120.00")
    _refused(
        lambda: _entry(
            kind="earn",
            transaction=recorded.transaction,
            rule_version=recorded.entry.rule_version,
            customer=recorded.transaction.customer,
        )
    )


def test_a_reversal_without_the_entry_it_corrects_is_refused():
    recorded = purchase(CustomerFactory(), "120.00")
    _refused(
        lambda: _entry(
            kind="reversal", points=-10, transaction=recorded.transaction, rule_version=recorded.entry.rule_version
        )
    )


def test_an_adjustment_needs_an_author_and_a_reason():
    _refused(lambda: _entry(kind="adjustment", reason="goodwill"))
    _refused(lambda: _entry(kind="adjustment", created_by=ManagerFactory()))
    assert _entry(kind="adjustment", created_by=ManagerFactory(), reason="goodwill").pk


def test_expiry_and_redemption_take_points_away_and_carry_their_cause():
    _refused(lambda: _entry(kind="expiry", points=-5))
    _refused(lambda: _entry(kind="expiry", points=5, reason="12 months"))
    _refused(lambda: _entry(kind="redemption", points=-5))
    assert _entry(kind="redemption", points=-5, created_by=ManagerFactory()).pk
