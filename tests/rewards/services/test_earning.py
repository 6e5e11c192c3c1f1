"""The one earning path (rewards.services.earning): what the till, the admin and the importer share."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from rewards import engine
from rewards.calendar import EARLIEST_MOMENT
from rewards.models import CustomerMonthPoints, PointsEntry, RuleVersion
from rewards.selectors import default_program, rule_version_at
from rewards.services.earning import earn_fields, purchase_context
from rewards.services.ledger import rollup_differences
from tests.factories import CustomerFactory, StoreFactory, at, purchase, refund
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
    assert (fields.points, fields.facts, fields.stamped) == (entry.points, entry.facts, entry.stamped) == (
        180,
        {"context": {"on": "2025-03-04", "store": "elm-street"}},
        True,
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
