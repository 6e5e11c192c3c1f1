"""The one earning path (rewards.services.earning): what the till, the admin and the importer share."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from rewards import engine
from rewards.calendar import EARLIEST_MOMENT
from rewards.models import CustomerMonthPoints, PointsEntry, RuleVersion
from rewards.selectors import customer_balance, default_program, rule_version_at
from rewards.services.earning import earn_fields, purchase_context
from rewards.services.ledger import rollup_differences
from tests.factories import CLASSIC, CustomerFactory, StoreFactory, at, publish, purchase, refund, with_promotion
from transactions.models import Transaction

pytestmark = pytest.mark.django_db


def test_the_default_program_earns_from_the_earliest_moment_a_merchant_can_have_records():
    first = RuleVersion.objects.filter(program=default_program()).order_by("effective_from").first()
    assert first.effective_from == EARLIEST_MOMENT
    assert rule_version_at(EARLIEST_MOMENT) == first


def test_a_purchase_dated_1997_records_and_earns_the_classic_rule():
    customer = CustomerFactory()
    recorded = purchase(customer, "120.00", when=at(1997, 3, 4))
    assert (recorded.entry.points, recorded.entry.explanation) == (
        90,
        "120.00: 50 × 1 (50–100) + 20 × 2 (over 100) = 90",
    )
    assert refund(recorded, "30.00", when=at(1997, 3, 5)).entry.points == -50
    assert CustomerMonthPoints.objects.get(customer=customer).month == dt.date(1997, 3, 1)
    assert rollup_differences() == []


def test_a_purchase_before_every_rule_version_is_refused_beside_its_moment():
    customer = CustomerFactory()
    with pytest.raises(ValidationError) as refusal:
        purchase(customer, "120.00", when=EARLIEST_MOMENT - dt.timedelta(seconds=1))
    assert refusal.value.message_dict == {"occurred_at": ["No earning rule was in force at that moment."]}
    assert not Transaction.objects.exists() and not PointsEntry.objects.exists()


@pytest.mark.parametrize("kind", ["purchase", "refund"])
def test_a_moment_in_the_future_is_refused_beside_it_and_nothing_is_written(settings, kind):
    settings.LOYALTY_CLOCK_SKEW_SECONDS = 120
    customer = CustomerFactory()
    bought = purchase(customer, "120.00", when=timezone.now() - dt.timedelta(days=1))
    before = (Transaction.objects.count(), PointsEntry.objects.count())
    later = timezone.now() + dt.timedelta(seconds=150)
    with pytest.raises(ValidationError) as refusal:
        purchase(customer, "50.00", when=later) if kind == "purchase" else refund(bought, "10.00", when=later)
    assert refusal.value.message_dict == {"occurred_at": [f"A {kind} cannot be in the future."]}
    assert (Transaction.objects.count(), PointsEntry.objects.count()) == before


def test_a_till_clock_a_little_ahead_is_within_the_skew(settings):
    settings.LOYALTY_CLOCK_SKEW_SECONDS = 120
    customer = CustomerFactory()
    bought = purchase(customer, "120.00", when=timezone.now() + dt.timedelta(seconds=60))
    assert bought.entry.points == 90
    assert refund(bought, "10.00", when=timezone.now() + dt.timedelta(seconds=90)).created


def test_the_bulk_arithmetic_is_what_the_till_writes():
    """earn_fields needs no saved purchase: the importer computes it once per distinct key, the till per purchase."""
    StoreFactory(code="elm-street", name="Elm Street")
    rule = engine.CLASSIC_RULE.to_dict() | {
        "promotions": [
            {"name": "Tuesdays", "multiplier": "2", "weekdays": [1], "starts": "2025-03-01", "ends": "2025-03-31"}
        ],
        "stamp_card": {"every": 5, "bonus": 10, "minimum_amount": "100.00"},
    }
    version = RuleVersion.objects.create(program=default_program(), effective_from=at(2025, 3, 1), rule=rule)
    moment = at(2025, 3, 4, 9, 30)
    recorded = purchase(CustomerFactory(), "120.00", when=moment, store=StoreFactory(code="elm-street"))
    fields = earn_fields(
        amount=Decimal("120.00"),
        rule=version.engine_rule(),
        context=purchase_context(version.engine_rule(), occurred_at=moment, store_code="elm-street"),
    )
    entry = recorded.entry
    assert (
        (fields.points, fields.facts, fields.stamped)
        == (entry.points, entry.facts, entry.stamped)
        == (
            180,
            {"context": {"on": "2025-03-04", "store": "elm-street"}},
            True,
        )
    )


def test_an_earn_entry_stores_what_history_needs_and_renders_the_rest():
    customer = CustomerFactory()
    recorded = purchase(customer, "120.00")
    stored = PointsEntry.objects.values("note", "facts").get(pk=recorded.entry.pk)
    assert stored == {"note": "", "facts": {}}  # no promotions, no tier: nothing to keep beside the rule version
    entry = PointsEntry.objects.select_related("transaction", "rule_version").get(pk=recorded.entry.pk)
    assert entry.explanation == "120.00: 50 × 1 (50–100) + 20 × 2 (over 100) = 90"
    assert entry.detail["parts"][1] == {"lower": 100, "upper": None, "units": 20, "rate": "2", "points": 40}


def test_a_rule_that_cannot_fit_one_entry_refuses_the_purchase_beside_its_amount():
    """A version stored before capacity was checked: the till answers with a message, never a 500."""
    RuleVersion.objects.create(
        program=default_program(),
        effective_from=at(2025, 1, 1),
        rule={"bands": [{"threshold": 0, "rate": "999999.9999"}]},
    )
    with pytest.raises(ValidationError) as refusal:
        purchase(CustomerFactory(), "5000.00", when=at(2025, 2, 1))
    assert "more than one ledger entry holds" in refusal.value.message_dict["amount"][0]
    assert not Transaction.objects.exists()


# --- versions ---------------------------------------------------------------------------------------


def test_purchases_earn_by_the_version_in_force_at_their_moment_including_one_starting_later():
    customer = CustomerFactory()
    future = timezone.now() + dt.timedelta(days=2)
    flat = publish({"bands": [{"threshold": 0, "rate": "1"}]}, future)
    now_purchase = purchase(customer, "120.00")
    assert now_purchase.entry.rule_version != flat
    assert now_purchase.entry.points == 90
    with time_machine.travel(future + dt.timedelta(minutes=1), tick=False):  # a purchase is never in the future
        later = purchase(customer, "120.00", when=future + dt.timedelta(minutes=1))
        assert (later.entry.rule_version, later.entry.points) == (flat, 120)
        exactly_at_start = purchase(customer, "10.00", when=future)
        assert exactly_at_start.entry.rule_version == flat
    assert rule_version_at(future - dt.timedelta(microseconds=1)) != flat


def test_a_refund_reverses_under_the_version_and_promotions_its_purchase_earned_with():
    elm = StoreFactory(code="elm-street", name="Elm Street")
    customer = CustomerFactory()
    old = publish(
        with_promotion(starts="2025-03-01", ends="2025-03-31", weekdays=[1], stores=["elm-street"]), at(2025, 2, 1)
    )
    bought = purchase(customer, "120.00", when=at(2025, 3, 4), store=elm)  # a Tuesday at Elm Street
    assert bought.entry.points == 180
    assert bought.entry.explanation == ("120.00: 50 × 1 (50–100) + 20 × 2 (over 100) = 90; Tuesday promotion ×2 → 180")
    assert bought.entry.detail["context"] == {"on": "2025-03-04", "store": "elm-street"}
    # A new version without the promotion is in force when the refund comes.
    publish({"bands": [{"threshold": 0, "rate": "5"}]}, at(2025, 3, 10))
    refunded = refund(bought, "30.00", when=at(2025, 3, 20))
    assert refunded.entry.rule_version == old
    assert refunded.entry.points == 80 - 180  # 90.00 left earns 40, doubled by the purchase's promotion
    assert customer_balance(customer.pk) == 80


def test_a_refund_taking_the_remainder_below_a_fixed_bonus_minimum_takes_the_bonus_back():
    customer = CustomerFactory()
    publish(
        CLASSIC
        | {
            "promotions": [
                {
                    "name": "Big basket",
                    "kind": "bonus",
                    "bonus": 50,
                    "starts": "2025-03-01",
                    "ends": "2025-03-31",
                    "minimum_amount": "100",
                }
            ]
        },
        at(2025, 2, 1),
    )
    bought = purchase(customer, "120.00", when=at(2025, 3, 5))
    assert bought.entry.points == 140
    refund(bought, "10.00", when=at(2025, 3, 6))
    assert customer_balance(customer.pk) == 70 + 50  # 110.00 is still a big basket
    refund(bought, "20.00", when=at(2025, 3, 7))
    assert customer_balance(customer.pk) == 40  # 90.00 is not: the bonus went back with the refund


def test_an_earn_entry_without_a_recorded_context_reverses_without_promotions():
    """A bulk writer (the importer) earns with engine.earn(amount, rule) and no context: its refunds must
    reverse the same way, from unsaved stand-ins that carry no store and no moment."""
    from rewards.services.earning import reversal_entry
    from transactions.models import Transaction

    version = publish(with_promotion(starts="2025-03-01", ends="2025-03-31"), at(2025, 2, 1))
    purchase_stand_in = Transaction(pk=1, customer_id=1, amount=Decimal("120.00"), receipt_number="R1")
    refund_stand_in = Transaction(pk=2, amount=Decimal("30.00"), occurred_at=at(2025, 3, 5))
    earned = PointsEntry(pk=3, rule_version=version)
    entry = reversal_entry(
        refund=refund_stand_in, purchase=purchase_stand_in, refunded_before=Decimal(0), earned=earned
    )
    assert entry.points == 40 - 90
