"""The accountant's reads on the small book (tests/rewards/books.py): every figure checked by hand."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine

from rewards import accounting
from rewards.liability import ageing, liability_report, month_figures
from rewards.models import ExpiryPolicy, Reward
from rewards.selectors import customer_balance, default_program
from rewards.services.liability import prove_liability
from rewards.services.redemption import redeem, undo_redemption
from rewards.services.valuation import set_breakage_estimate
from tests.factories import CustomerFactory, ManagerFactory, StoreFactory, at, default_store, purchase
from tests.rewards.books import FEBRUARY, JANUARY, MARCH, small_book

pytestmark = pytest.mark.django_db


@pytest.fixture
def book(new_york):
    return small_book()


def lines(month) -> dict[str, tuple[int, Decimal]]:
    return {line.kind: (line.points, line.money) for line in month.lines if line.points or line.money}


def test_the_roll_forward_month_by_month(book):
    report = liability_report(start=JANUARY, months=3)
    jan, feb, mar = report.total
    assert (jan.opening.points, jan.opening.money) == (0, 0)
    assert lines(jan) == {"earn": (120, Decimal("1.20")), "adjustment": (10, Decimal("0.10"))}
    assert (jan.closing.points, jan.closing.money) == (130, Decimal("1.30"))

    assert feb.opening == jan.closing
    assert lines(feb) == {
        "earn": (150, Decimal("3.00")),
        "reversal": (-50, Decimal("-0.50")),
        "redemption": (-20, Decimal("-0.40")),
    }
    assert feb.revaluation == Decimal("0.80")
    assert (feb.closing.points, feb.closing.money) == (210, Decimal("4.20"))

    assert lines(mar) == {"earn": (10, Decimal("0.20")), "expiry": (-110, Decimal("-2.20"))}
    assert (mar.closing.points, mar.closing.money) == (110, Decimal("2.20"))
    assert mar.closing_value == Decimal("0.0200")


def test_the_closing_balance_equals_the_members_balances(book):
    [*_, march] = liability_report(start=JANUARY, months=3).total
    balances = customer_balance(book.ann.pk) + customer_balance(book.bob.pk)
    assert march.closing.points == balances == 110
    proof = prove_liability()
    assert proof.ok
    by_month = {month.month: month for month in proof.months}
    assert [by_month[month].balances for month in (JANUARY, FEBRUARY, MARCH)] == [130, 210, 110]


def test_each_store_and_no_store_add_up_to_the_total(book):
    report = liability_report(start=JANUARY, months=3)
    closing = {scope.label: (rows[-1].closing.points, rows[-1].closing.money) for scope, rows in report.stores}
    assert closing == {
        "Elm Street": (-40, Decimal("-0.80")),
        "Main store": (250, Decimal("5.00")),
        "No store": (-100, Decimal("-2.00")),
    }
    elm = dict(report.stores)[next(scope for scope, _ in report.stores if scope.code == "elm")]
    assert lines(elm[1]) == {"reversal": (-50, Decimal("-0.50")), "redemption": (-20, Decimal("-0.40"))}
    assert elm[1].revaluation == Decimal("-0.20")
    none = report.scope("none")[1]
    assert none[1].revaluation == Decimal("0.10")
    assert lines(none[2]) == {"expiry": (-110, Decimal("-2.20"))}
    assert report.scope("")[1] is report.total


def test_an_undone_redemption_counts_at_the_store_that_redeemed(new_york):
    manager = ManagerFactory()
    customer = CustomerFactory()
    purchase(customer, "120.00", when=at(2025, 1, 10))
    harbour = StoreFactory(code="harbour", name="Harbour")
    reward = Reward.objects.create(program=default_program(), name="Tea", points_cost=30, benefit="free_item")
    redemption = redeem(customer=customer, reward=reward, store=harbour, redeemed_by=manager, moment=at(2025, 1, 12))
    undo_redemption(redemption=redemption, undone_by=manager, moment=at(2025, 2, 1, 9))
    report = liability_report(start=JANUARY, months=2)
    harbour_rows = report.scope("harbour")[1]
    assert [month.line("redemption").points for month in harbour_rows] == [-30, 30]


def test_breakage_and_revenue_of_the_small_book(book):
    jan, feb, mar = liability_report(start=JANUARY, months=3).breakage
    assert (jan.source, jan.breakage_rate, jan.redemption_revenue) == (accounting.NO_EVIDENCE, 0, 0)
    assert (feb.source, feb.observed_rate, feb.breakage_rate) == (accounting.OBSERVED, 1, 0)
    assert feb.sale_share == Decimal(220) / Decimal(230)
    assert feb.redemption_revenue == Decimal("0.38")  # 0.40 x 220/230
    assert feb.breakage_revenue == 0
    assert mar.observed_rate == Decimal(20) / Decimal(130)
    assert mar.breakage_rate == Decimal(110) / Decimal(130)
    # max(2.20 expired x 230/240 = 2.1083, min(3.30, 0.38 x 5.5 = 2.09)) = 2.11
    assert (mar.redemption_revenue, mar.breakage_revenue, mar.breakage_to_date) == (0, Decimal("2.11"), Decimal("2.11"))


def test_a_manual_estimate_replaces_the_observed_rate_from_its_month(book):
    set_breakage_estimate(rate=Decimal(25), reason="industry study", set_by=book.manager, effective_month=FEBRUARY)
    jan, feb, mar = liability_report(start=JANUARY, months=3).breakage
    assert jan.source == accounting.NO_EVIDENCE
    assert (feb.source, feb.manual_rate, feb.breakage_rate) == (accounting.MANUAL, Decimal(25), Decimal("0.25"))
    # 0.38 x 0.25 / 0.75 = 0.1267 -> 0.13; in March what expired (2.1083) is more: 2.11, so 1.98 more.
    assert (feb.breakage_revenue, mar.breakage_revenue) == (Decimal("0.13"), Decimal("1.98"))


def test_a_months_figures_are_plain_json_that_a_close_keeps(book):
    figures = month_figures(FEBRUARY)
    assert figures["month"] == "2025-02"
    assert figures["closing"] == {"points": 210, "money": "4.2000"}
    assert figures["revaluation"] == "0.8000"
    assert figures["lines"]["redemption"] == {"points": -20, "money": "-0.4000"}
    assert figures["breakage"]["redemption_revenue"] == "0.38"
    assert str(book.elm.pk) in figures["stores"] and "0" in figures["stores"]


# --- ageing -----------------------------------------------------------------------------------------


@pytest.fixture
def aged(new_york):
    """Ann: 40 points of Feb 2024 and 100 of May 2024 (before any expiry policy: they never lapse), 50 of Dec
    2024 and 20 of Mar 2025 (six months after their month), and 30 redeemed in Jan 2025 from the oldest lot.
    Cy: 30 points of Jul 2024, due at Feb 2025's start, which no daily run has expired."""
    manager = ManagerFactory()
    ExpiryPolicy.objects.create(
        program=default_program(),
        effective_month=dt.date(2024, 6, 1),
        kind=ExpiryPolicy.Kind.AFTER_MONTHS,
        months=6,
        changed_by=manager,
    )
    ann, cy = CustomerFactory(), CustomerFactory()
    purchase(ann, "90.00", when=at(2024, 2, 10))  # 40
    purchase(ann, "125.00", when=at(2024, 5, 10))  # 100
    purchase(ann, "100.00", when=at(2024, 12, 10))  # 50
    reward = Reward.objects.create(program=default_program(), name="Cake", points_cost=30, benefit="free_item")
    redeem(customer=ann, reward=reward, store=default_store(), redeemed_by=manager, moment=at(2025, 1, 15))
    purchase(ann, "70.00", when=at(2025, 3, 10))  # 20
    purchase(cy, "80.00", when=at(2024, 7, 10))  # 30
    return ann, cy


def test_ageing_buckets_the_lots_left_by_the_month_earned(aged):
    with time_machine.travel(dt.datetime(2025, 6, 15, 12, tzinfo=dt.UTC)):
        found = ageing(as_of=MARCH)
    assert [(bucket.label, bucket.points) for bucket in found.buckets] == [
        ("0–3 months", 20),
        ("3–6 months", 50),
        ("6–12 months", 100),
        ("Over 12 months", 10),  # 40 less the 30 redeemed, oldest first
    ]
    assert found.buckets[1].money == Decimal("0.50")
    # Cy's 30 were due at February's start and are still in the balance: in no lot until the run expires them.
    assert (found.balance, found.in_lots, found.unallocated) == (210, 180, 30)
    assert found.customers == 2


def test_the_lapses_ahead_month_by_month(aged):
    with time_machine.travel(dt.datetime(2025, 6, 15, 12, tzinfo=dt.UTC)):
        found = ageing(as_of=MARCH, lapse_months=6)
    assert found.expires
    assert found.lapses == [
        (dt.date(2025, 6, 1), 30),  # Cy's lot, due since February: the next daily run
        (dt.date(2025, 7, 1), 50),  # Ann's December lot
        (dt.date(2025, 8, 1), 0),
        (dt.date(2025, 9, 1), 0),
        (dt.date(2025, 10, 1), 20),  # Ann's March lot
        (dt.date(2025, 11, 1), 0),
    ]


def test_without_an_expiry_policy_nothing_lapses(new_york):
    purchase(CustomerFactory(), "120.00", when=at(2025, 1, 10))
    found = ageing(as_of=MARCH)
    assert not found.expires and all(points == 0 for _month, points in found.lapses)
    assert [bucket.points for bucket in found.buckets] == [90, 0, 0, 0]
