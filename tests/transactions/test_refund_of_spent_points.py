"""Refunding a purchase whose points were already spent: the program's negative-balance setting decides."""

import pytest

from rewards.models import Program
from rewards.selectors import customer_balance, default_program
from rewards.services.redemption import redeem
from tests.factories import CustomerFactory, RewardFactory, default_store, purchase, refund

pytestmark = pytest.mark.django_db


@pytest.fixture
def spent(staff):
    """90 points earned on a 120.00 purchase, 80 of them spent on a reward: 10 left."""
    customer = CustomerFactory()
    recorded = purchase(customer, "120.00")
    redeem(customer=customer, reward=RewardFactory(points_cost=80), store=default_store(), redeemed_by=staff)
    return customer, recorded


def test_the_default_takes_what_remains_and_records_the_shortfall(spent):
    customer, recorded = spent
    assert default_program().negative_balance_policy == Program.NegativeBalance.TAKE_WHAT_REMAINS

    entry = refund(recorded, "120.00").entry

    assert entry.points == -10
    assert entry.detail["shortfall"] == 80
    assert entry.detail["full_reversal"] == -90
    assert "shortfall 80 points" in entry.explanation
    assert customer_balance(customer.pk) == 0


def test_a_refund_the_balance_covers_takes_the_full_reversal_under_the_default(spent):
    customer, recorded = spent
    purchase(customer, "200.00")  # +250
    entry = refund(recorded, "120.00").entry
    assert entry.points == -90
    assert "shortfall" not in entry.detail
    assert customer_balance(customer.pk) == 170


def test_allowing_a_negative_balance_takes_the_full_reversal(spent):
    customer, recorded = spent
    Program.objects.filter(is_default=True).update(negative_balance_policy=Program.NegativeBalance.ALLOW)

    entry = refund(recorded, "120.00").entry

    assert entry.points == -90
    assert customer_balance(customer.pk) == -80
