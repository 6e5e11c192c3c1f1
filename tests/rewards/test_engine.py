"""The points arithmetic. No database: these run in milliseconds."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rewards.engine import CLASSIC_RULE, Band, Rule, RuleError, earn, reversal, whole_units

amounts = st.decimals(min_value=0, max_value=Decimal("100000"), places=2, allow_nan=False, allow_infinity=False)


@pytest.mark.parametrize(
    ("amount", "points"),
    [
        ("120.00", 90),  # 50 x 1 + 20 x 2
        ("120.99", 90),  # only whole dollars earn
        ("50.99", 0),
        ("50.00", 0),
        ("51.00", 1),
        ("100.00", 50),
        ("100.99", 50),
        ("101.00", 52),
        ("0.00", 0),
        ("75.50", 25),
        ("250.00", 350),  # 50 + 2 x 150
    ],
)
def test_classic_rule_worked_examples(amount, points):
    assert earn(Decimal(amount), CLASSIC_RULE).points == points


def test_explanation_names_each_band_part():
    earning = earn(Decimal("120.00"), CLASSIC_RULE)
    assert earning.explain() == "120.00: 50 × 1 (50–100) + 20 × 2 (over 100) = 90"
    assert [(p.units, p.points) for p in earning.parts] == [(50, 50), (20, 40)]
    assert earning.as_dict()["parts"][1] == {"lower": 100, "upper": None, "units": 20, "rate": "2", "points": 40}


def test_explanation_below_every_band():
    assert earn(Decimal("49.99"), CLASSIC_RULE).explain() == "49.99: below every band = 0"


@given(st.integers(min_value=0, max_value=1_000_000))
def test_classic_rule_equals_closed_form_for_whole_dollars(dollars):
    expected = 2 * max(0, dollars - 100) + max(0, min(dollars, 100) - 50)
    assert earn(Decimal(dollars), CLASSIC_RULE).points == expected


@given(amounts, amounts)
def test_points_never_decrease_as_the_amount_grows(a, b):
    low, high = sorted((a, b))
    assert earn(low, CLASSIC_RULE).points <= earn(high, CLASSIC_RULE).points


@given(st.decimals(min_value=0, max_value=Decimal("50.99"), places=2))
def test_nothing_below_the_first_threshold(amount):
    assert earn(amount, CLASSIC_RULE).points == 0


@given(amounts)
def test_cents_never_earn(amount):
    assert earn(amount, CLASSIC_RULE).points == earn(Decimal(whole_units(amount)), CLASSIC_RULE).points


@given(amounts, st.lists(st.integers(min_value=1, max_value=100), min_size=1, max_size=5))
def test_partial_refunds_leave_the_points_of_what_was_not_refunded(amount, shares):
    """However a purchase is refunded in parts, the customer ends with the points of the remainder."""
    refunded = Decimal("0.00")
    reversed_points = 0
    for share in shares:
        part = (amount * Decimal(share) / 100).quantize(Decimal("0.01"))
        part = min(part, amount - refunded)
        reversed_points += reversal(purchase_amount=amount, refunded_before=refunded, refund=part, rule=CLASSIC_RULE)
        refunded += part
    assert reversed_points <= 0
    assert earn(amount, CLASSIC_RULE).points + reversed_points == earn(amount - refunded, CLASSIC_RULE).points


def test_refund_of_30_from_120_reverses_50():
    assert (
        reversal(
            purchase_amount=Decimal("120.00"), refunded_before=Decimal(0), refund=Decimal("30.00"), rule=CLASSIC_RULE
        )
        == -50
    )


def test_refund_beyond_what_is_left_is_refused():
    with pytest.raises(ValueError, match="cannot exceed"):
        reversal(
            purchase_amount=Decimal("120.00"),
            refunded_before=Decimal("100"),
            refund=Decimal("20.01"),
            rule=CLASSIC_RULE,
        )


def test_rule_round_trips_through_its_stored_form():
    assert Rule.from_dict(CLASSIC_RULE.to_dict()) == CLASSIC_RULE


@pytest.mark.parametrize(
    "data",
    [
        {"bands": [{"threshold": 100, "rate": "2"}, {"threshold": 50, "rate": "1"}]},  # unordered
        {"bands": [{"threshold": 50, "rate": "1"}, {"threshold": 50, "rate": "2"}]},  # overlapping
        {"bands": [{"threshold": 50, "rate": "-1"}]},  # negative rate
        {"bands": [{"threshold": "50.5", "rate": "1"}]},  # not a whole unit
        {"bands": [{"threshold": 50}]},  # no rate
        {"bands": [{"threshold": "abc", "rate": "1"}]},
    ],
)
def test_bad_rules_are_refused(data):
    with pytest.raises(RuleError):
        Rule.from_dict(data)


def test_fractional_rates_round_down_per_band():
    rule = Rule(bands=(Band(threshold=0, rate=Decimal("0.5")),))
    assert earn(Decimal("9.99"), rule).points == 4  # 9 whole dollars x 0.5 = 4.5 -> 4


def test_negative_amount_is_refused():
    with pytest.raises(ValueError):
        earn(Decimal("-1"), CLASSIC_RULE)
