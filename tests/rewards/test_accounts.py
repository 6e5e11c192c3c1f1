"""A transaction's account: how its points were made, as lines that add up (rewards.selectors.transaction_account)."""

import pytest

from rewards import engine
from rewards.selectors import default_program, transaction_account
from rewards.services.program import publish_rule_version
from tests.factories import CustomerFactory, StoreFactory, at, purchase, refund

pytestmark = pytest.mark.django_db


def test_the_points_account_rebuilds_each_bands_part():
    recorded = purchase(CustomerFactory(), "120.99")
    account = transaction_account(recorded.transaction.pk)
    assert account.points == 90
    assert [part.describe() for part in account.parts] == ["50 × 1 (50–100)", "20 × 2 (over 100)"]
    assert account.explanation == "120.99: 50 × 1 (50–100) + 20 × 2 (over 100) = 90"

    small = transaction_account(purchase(CustomerFactory(), "20.00").transaction.pk)
    assert (small.points, small.parts, small.explanation) == (0, [], "20.00: below every band = 0")


def test_every_line_of_a_rich_purchase_adds_up_to_its_points():
    """Bands, a promotion step, the stamp card's bonus: each a line, and the lines sum to what was credited."""
    StoreFactory(code="elm-street", name="Elm Street")
    rule = engine.CLASSIC_RULE.to_dict() | {
        "promotions": [
            {"name": "Double", "kind": "multiplier", "multiplier": "2", "starts": "2025-03-01", "ends": "2025-03-31"},
            {"name": "Welcome", "kind": "bonus", "bonus": 5, "starts": "2025-03-01", "ends": "2025-03-31"},
        ],
        "stamp_card": {"every": 1, "bonus": 7},
    }
    publish_rule_version(program=default_program(), rule=engine.Rule.from_dict(rule), effective_from=at(2025, 3, 1))
    recorded = purchase(CustomerFactory(), "120.00", when=at(2025, 3, 4))
    account = transaction_account(recorded.transaction.pk)
    assert [(line.label, line.points) for line in account.lines] == [
        ("50 × 1 (50–100)", 50),
        ("20 × 2 (over 100)", 40),
        ("Double ×2", 90),
        ("Welcome +5", 5),
        ("stamp card: 1st qualifying visit", 7),
    ]
    assert sum(line.points for line in account.lines) == account.points == 185 + 7


def test_a_refund_account_is_its_reversal():
    recorded = purchase(CustomerFactory(), "120.00", when=at(2025, 1, 10))
    refunded = refund(recorded, "30.00", when=at(2025, 1, 11))
    account = transaction_account(refunded.transaction.pk)
    assert account.points == -50 == sum(line.points for line in account.lines)
    assert account.explanation.startswith("refund of 30.00 from 120.00")
