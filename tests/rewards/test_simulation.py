"""The what-if simulator's numbers against a hand-checked record, and the recalculation's adjustments."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from rewards import engine, simulation
from rewards.models import PointsEntry, Recalculation
from rewards.selectors import customer_balance, default_program, rule_version_at
from rewards.services.program import publish_rule_version, save_draft
from rewards.services.recalculation import NothingToRecalculate, recalculate
from tests.factories import CustomerFactory, ManagerFactory, StoreFactory, at, purchase, refund

pytestmark = pytest.mark.django_db

MARCH = dt.date(2025, 3, 1)
APRIL = dt.date(2025, 4, 1)
TUESDAY_DOUBLE = engine.Rule.from_dict(
    engine.CLASSIC_RULE.to_dict()
    | {
        "promotions": [
            {
                "name": "Tuesday promotion",
                "multiplier": "2",
                "starts": "2025-03-01",
                "ends": "2025-03-31",
                "weekdays": [1],
                "stores": ["elm-street"],
            }
        ]
    }
)


@pytest.fixture
def history():
    """A hand-checked record under the classic rule (points in the comments)."""
    elm = StoreFactory(code="elm-street", name="Elm Street")
    harbour = StoreFactory(code="harbour", name="Harbour Road")
    ann, bob, cat = CustomerFactory(name="Ann"), CustomerFactory(name="Bob"), CustomerFactory(name="Cat")
    february = purchase(ann, "200.00", when=at(2025, 2, 25), store=elm)  # 250, before the period
    refund(february, "50.00", when=at(2025, 3, 2))  # -100 in March: 150.00 left earns 150
    tuesday = purchase(ann, "120.00", when=at(2025, 3, 4), store=elm)  # 90; a Tuesday at Elm Street
    refund(tuesday, "20.00", when=at(2025, 3, 6))  # -40: 100.00 left earns 50
    purchase(ann, "80.00", when=at(2025, 3, 5), store=elm)  # 30; a Wednesday
    big = purchase(bob, "250.00", when=at(2025, 3, 11), store=harbour)  # 350; a Tuesday, another store
    refund(big, "100.00", when=at(2025, 3, 20))  # -200
    purchase(cat, "120.00", when=at(2025, 4, 1), store=elm)  # 90; a Tuesday in April, after the promotion
    return ann, bob, cat


def rows_of(comparison):
    return {(row.customer_id, row.month): (row.actual, row.draft, row.difference, row.money) for row in comparison.rows}


def test_simulator_numbers_against_the_hand_checked_record(history, django_assert_num_queries):
    ann, bob, cat = history
    # PostgreSQL sums the purchases in SQL: the grouped join with its planner settings (SET LOCAL, inside
    # a savepoint here) instead of the stream.
    with django_assert_num_queries(10 if connection.vendor == "postgresql" else 7):
        comparison = simulation.compare(rule=TUESDAY_DOUBLE, first_month=MARCH, months=2)
    # Ann in March: actual -100 + 90 - 40 + 30 = -20. Under the draft the Tuesday purchase earns 180 and
    # its refund leaves 100.00 doubled (100), so -80; the February purchase's refund reverses as recorded.
    assert rows_of(comparison) == {
        (ann.pk, MARCH): (-20, 180 - 80 + 30 - 100, 50, Decimal("0.50")),
        (bob.pk, MARCH): (150, 150, 0, Decimal("0.00")),
        (cat.pk, APRIL): (90, 90, 0, Decimal("0.00")),
    }
    assert (comparison.actual, comparison.draft, comparison.difference, comparison.money) == (
        220,
        270,
        50,
        Decimal("0.50"),
    )
    assert comparison.by_month == [
        {"month": MARCH, "actual": 130, "draft": 180, "difference": 50, "money": Decimal("0.50")},
        {"month": APRIL, "actual": 90, "draft": 90, "difference": 0, "money": Decimal("0.00")},
    ]
    assert comparison.transactions == 4 + 3  # four purchases, three refunds
    assert [row.name for row in comparison.largest(1)] == ["Ann"]


def test_simulator_writes_nothing_and_takes_a_value_per_point(history):
    before = PointsEntry.objects.count()
    comparison = simulation.compare(rule=TUESDAY_DOUBLE, first_month=MARCH, months=1, point_value=Decimal("0.05"))
    assert comparison.money == Decimal("2.50")
    assert PointsEntry.objects.count() == before


def test_the_classic_rule_replays_to_exactly_what_was_recorded(history):
    comparison = simulation.compare(rule=engine.CLASSIC_RULE, first_month=dt.date(2025, 2, 1), months=3)
    assert comparison.changed() == []
    assert comparison.actual == 250 + 220


def test_recalculation_posts_adjustments_once_and_never_edits_old_entries(history):
    ann, _bob, _cat = history
    manager = ManagerFactory()
    program = default_program()
    classic = rule_version_at(at(2025, 3, 1))
    promoted = publish_rule_version(program=program, rule=TUESDAY_DOUBLE, effective_from=timezone.now())
    old_entries = list(PointsEntry.objects.order_by("id").values_list("id", "points", "kind"))
    balance_before = customer_balance(ann.pk)

    done = recalculate(program=program, version=promoted, first_month=MARCH, months=2, author=manager)

    assert isinstance(done, Recalculation)
    assert (done.author, done.rule_version, done.customers, done.points) == (manager, promoted, 1, 50)
    adjustment = PointsEntry.objects.get(kind="adjustment")
    assert (adjustment.customer, adjustment.points, adjustment.created_by) == (ann, 50, manager)
    assert adjustment.recalculation == done
    assert adjustment.reason.startswith(f"recalculation #{done.pk}: 2025-03 to 2025-04")
    assert timezone.localtime(adjustment.effective_at).date() == MARCH
    assert list(PointsEntry.objects.exclude(pk=adjustment.pk).order_by("id").values_list("id", "points", "kind")) == (
        old_entries
    )
    assert customer_balance(ann.pk) == balance_before + 50

    # The same recalculation again: the preview shows no difference and nothing is posted.
    assert simulation.compare(rule=TUESDAY_DOUBLE, first_month=MARCH, months=2).changed() == []
    with pytest.raises(NothingToRecalculate):
        recalculate(program=program, version=promoted, first_month=MARCH, months=2, author=manager)
    assert PointsEntry.objects.filter(kind="adjustment").count() == 1

    # Back to the classic version: a second adjustment undoes the first.
    back = recalculate(program=program, version=classic, first_month=MARCH, months=1, author=manager)
    assert back.points == -50
    assert customer_balance(ann.pk) == balance_before


@pytest.mark.postgres_only
@pytest.mark.skipif(connection.vendor != "postgresql", reason="sums purchases in SQL only on PostgreSQL")
@pytest.mark.parametrize("minimum", ["0", "100.50"])  # a minimum with cents keys the table by exact amount
def test_summing_in_sql_equals_streaming_in_python(history, minimum):
    rule = engine.Rule.from_dict(
        TUESDAY_DOUBLE.to_dict()
        | {"base_rate": "0.5", "minimum_purchase": "1"}
        | {
            "promotions": [
                *TUESDAY_DOUBLE.to_dict()["promotions"],
                {
                    "name": "Big basket",
                    "kind": "bonus",
                    "bonus": 30,
                    "starts": "2025-03-05",
                    "ends": "2025-04-30",
                    "minimum_amount": minimum,
                },
            ]
        }
    )
    ann, bob, _cat = history
    purchase(ann, "100.75", when=at(2025, 3, 12))
    # Larger than the whole-unit table (2,000 past the last threshold): summed apart.
    purchase(bob, "2500.00", when=at(2025, 3, 18), store=StoreFactory(code="elm-street"))
    purchase(bob, "9999.99", when=at(2025, 4, 2))
    in_sql = simulation.replay(rule=rule, first_month=MARCH, months=2, in_sql=True)
    streamed = simulation.replay(rule=rule, first_month=MARCH, months=2, in_sql=False)
    assert in_sql == streamed
    assert all(isinstance(points, int) for points in in_sql[0].values())


def test_a_planned_promotion_is_priced_on_the_same_weekdays_of_the_replayed_period():
    """A "×2 Mondays" planned for next year, replayed on March 2025: Mondays' purchases double, others not."""
    customer = CustomerFactory()
    purchase(customer, "120.00", when=at(2025, 3, 3))  # a Monday: 90 -> 180
    purchase(customer, "120.00", when=at(2025, 3, 4))  # a Tuesday: 90
    mondays = engine.CLASSIC_RULE.to_dict() | {
        "promotions": [
            {"name": "Mondays", "multiplier": "2", "starts": "2031-06-02", "ends": "2031-06-30", "weekdays": [0]}
        ]
    }
    rule = engine.Rule.from_dict(mondays)
    assert simulation.compare(rule=rule, first_month=dt.date(2025, 3, 1), months=1).difference == 0  # as dated
    moved = simulation.reanchor_promotions(rule, dt.date(2025, 3, 1), 1)
    # Moved by whole weeks: June 2nd, 2031 is a Monday, so is March 3rd, 2025; the same 28 days' length.
    assert (moved.promotions[0].starts, moved.promotions[0].ends) == (dt.date(2025, 3, 3), dt.date(2025, 3, 31))
    assert moved.promotions[0].weekdays == (0,)
    compared = simulation.compare(rule=moved, first_month=dt.date(2025, 3, 1), months=1)
    assert (compared.actual, compared.draft, compared.difference) == (180, 270, 90)


def test_a_promotion_longer_than_the_period_covers_all_of_it():
    rule = engine.Rule.from_dict(
        engine.CLASSIC_RULE.to_dict()
        | {"promotions": [{"name": "Year", "multiplier": "2", "starts": "2030-01-01", "ends": "2030-12-31"}]}
    )
    moved = simulation.reanchor_promotions(rule, dt.date(2025, 1, 1), 3)
    assert (moved.promotions[0].starts, moved.promotions[0].ends) == (dt.date(2025, 1, 1), dt.date(2025, 3, 31))


def test_the_simulator_page_reanchors_by_default_and_hides_rows_without_a_difference(manager_client, manager):
    monday, tuesday = CustomerFactory(name="Monday Shopper"), CustomerFactory(name="Tuesday Shopper")
    purchase(monday, "120.00", when=at(2025, 3, 3))
    purchase(tuesday, "120.00", when=at(2025, 3, 4))
    mondays = engine.CLASSIC_RULE.to_dict() | {
        "promotions": [
            {"name": "Mondays", "multiplier": "2", "starts": "2031-06-02", "ends": "2031-06-30", "weekdays": [0]}
        ]
    }
    save_draft(program=default_program(), rule=engine.Rule.from_dict(mondays), author=manager)
    page = manager_client.get("/program/simulate/", {"start": "2025-03", "months": "1"}).content.decode()
    assert 'data-total="difference" data-value="90"' in page
    assert "Monday Shopper" in page and "Tuesday Shopper" in page
    changed = manager_client.get("/program/simulate/", {"start": "2025-03", "months": "1", "changed_only": "on"})
    assert "Monday Shopper" in changed.content.decode() and "Tuesday Shopper" not in changed.content.decode()
    as_dated = manager_client.get("/program/simulate/", {"start": "2025-03", "months": "1", "promotions": "dated"})
    assert 'data-total="difference" data-value="0"' in as_dated.content.decode()
