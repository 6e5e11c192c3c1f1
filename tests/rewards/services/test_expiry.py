"""Expiry: each policy, a late and a repeated daily run, and a policy change that never surprises anyone."""

import datetime as dt

import pytest
from django.core.management import call_command
from django.utils import timezone

from rewards import engine
from rewards.calendar import add_months
from rewards.local_time import local_midnight
from rewards.models import ExpiryPolicy, PointsEntry
from rewards.selectors import customer_balance, default_program, points_expiring_soon
from rewards.services.expiry import PolicyRefused, expire_points, set_expiry_policy
from rewards.services.ledger import rollup_differences
from rewards.services.redemption import redeem
from tests.factories import CustomerFactory, RewardFactory, at, default_store, purchase

pytestmark = pytest.mark.django_db


def policy(kind: str, months: int, start: dt.date, manager) -> ExpiryPolicy:
    # History is made directly: the service refuses to start a policy in the past, as it should.
    return ExpiryPolicy.objects.create(
        program=default_program(), effective_month=start, kind=kind, months=months, changed_by=manager
    )


def expiries(customer) -> list[tuple[str, int, dt.datetime]]:
    return list(
        PointsEntry.objects.filter(customer=customer, kind="expiry")
        .order_by("bonus_key")
        .values_list("bonus_key", "points", "effective_at")
    )


@pytest.fixture
def fifo_customer(manager, staff):
    """Points expire 3 months after the month earned. 90 in January, 90 in February, 100 spent in March
    (all of January's and 10 of February's, oldest first)."""
    policy("after_months", 3, dt.date(2024, 1, 1), manager)
    customer = CustomerFactory()
    purchase(customer, "120.00", when=at(2025, 1, 10))
    purchase(customer, "120.00", when=at(2025, 2, 10))
    redeem(
        customer=customer,
        reward=RewardFactory(points_cost=100),
        store=default_store(),
        redeemed_by=staff,
        moment=at(2025, 3, 10),
    )
    return customer


def test_after_n_months_the_oldest_points_are_spent_first_and_the_rest_lapses_when_due(fifo_customer):
    assert expire_points(day=dt.date(2025, 4, 30)) == 0
    # January's lot lapses on May 1 but was all spent: nothing to post.
    assert expire_points(day=dt.date(2025, 5, 1)) == 0
    assert expire_points(day=dt.date(2025, 5, 31)) == 0
    assert expire_points(day=dt.date(2025, 6, 1)) == 1
    assert expiries(fifo_customer) == [("expiry:2025-02", -80, local_midnight(dt.date(2025, 6, 1)))]
    assert customer_balance(fifo_customer.pk) == 0
    assert rollup_differences() == []


def test_a_late_run_catches_up_exactly_and_a_second_run_posts_nothing(fifo_customer):
    assert expire_points(day=dt.date(2025, 9, 17)) == 1
    # Dated when the points lapsed, not when the command ran.
    assert expiries(fifo_customer) == [("expiry:2025-02", -80, local_midnight(dt.date(2025, 6, 1)))]
    assert expire_points(day=dt.date(2025, 9, 17)) == 0
    call_command("expire_points", "--date", "2025-09-18")
    assert len(expiries(fifo_customer)) == 1
    assert customer_balance(fifo_customer.pk) == 0


def test_the_whole_balance_lapses_after_n_months_without_activity(manager):
    policy("inactivity", 2, dt.date(2024, 1, 1), manager)
    idle, active = CustomerFactory(), CustomerFactory()
    for customer in (idle, active):
        purchase(customer, "120.00", when=at(2025, 1, 10))
        purchase(customer, "120.00", when=at(2025, 2, 10))
    purchase(active, "60.00", when=at(2025, 4, 2))  # 10 points, and activity

    assert expire_points(day=dt.date(2025, 4, 30)) == 0
    expire_points(day=dt.date(2025, 5, 1))
    assert customer_balance(idle.pk) == 0
    assert [points for _, points, _ in expiries(idle)] == [-90, -90]
    assert customer_balance(active.pk) == 190
    # Inactive since April: everything lapses when July begins.
    expire_points(day=dt.date(2025, 7, 1))
    assert customer_balance(active.pk) == 0


def test_a_policy_change_never_expires_points_earned_under_the_earlier_policy(manager):
    customer = CustomerFactory()
    purchase(customer, "120.00", when=at(2025, 1, 10))  # no policy: never expires
    policy("after_months", 1, dt.date(2025, 3, 1), manager)
    purchase(customer, "60.00", when=at(2025, 3, 10))  # 10 points under the new policy

    expire_points(day=dt.date(2026, 1, 1))

    assert expiries(customer) == [("expiry:2025-03", -10, local_midnight(dt.date(2025, 5, 1)))]
    assert customer_balance(customer.pk) == 90


def test_a_lenient_change_does_not_save_points_the_earlier_policy_expires(manager):
    customer = CustomerFactory()
    policy("after_months", 1, dt.date(2025, 1, 1), manager)
    purchase(customer, "120.00", when=at(2025, 1, 10))
    policy("never", 0, dt.date(2025, 2, 1), manager)
    purchase(customer, "120.00", when=at(2025, 2, 10))
    expire_points(day=dt.date(2026, 1, 1))
    assert [key for key, _, _ in expiries(customer)] == ["expiry:2025-01"]
    assert customer_balance(customer.pk) == 90


def test_never_expiring_points_are_left_alone(manager):
    customer = CustomerFactory()
    purchase(customer, "120.00", when=at(2020, 1, 10))
    assert expire_points(day=dt.date(2026, 1, 1)) == 0
    policy("never", 0, dt.date(2021, 1, 1), manager)
    assert expire_points(day=dt.date(2026, 1, 1)) == 0
    assert customer_balance(customer.pk) == 90


def test_points_expiring_in_the_next_30_days(fifo_customer, manager_client):
    assert points_expiring_soon(fifo_customer.pk, today=dt.date(2025, 4, 20)).points == 0  # January's: spent
    soon = points_expiring_soon(fifo_customer.pk, today=dt.date(2025, 5, 10))
    assert (soon.points, soon.first_due) == (80, dt.date(2025, 6, 1))
    assert points_expiring_soon(fifo_customer.pk, today=dt.date(2025, 4, 30)).points == 0


def test_the_statement_shows_points_expiring_soon(manager_client, manager):
    customer = CustomerFactory()
    policy("after_months", 1, dt.date(2000, 1, 1), manager)
    # Earned two months ago: lapsed when this month began, and goes at the daily command's next run.
    earned = add_months(timezone.localdate().replace(day=1), -2)
    purchase(customer, "120.00", when=at(earned.year, earned.month, 15))
    page = manager_client.get(f"/reports/customers/{customer.pk}/").content.decode()
    assert "90 points, from" in page


def test_policy_changes_start_next_month_at_the_earliest(manager):
    program = default_program()
    with pytest.raises(PolicyRefused):
        set_expiry_policy(
            program=program, kind="after_months", months=12, changed_by=manager, effective_month=dt.date(2020, 1, 1)
        )
    scheduled = set_expiry_policy(program=program, kind="after_months", months=12, changed_by=manager)
    assert scheduled.effective_month > timezone.localdate()


def test_the_engine_dates_an_inactivity_lapse_from_the_last_active_month():
    months = [
        engine.MonthOfPoints(month=dt.date(2025, 1, 1), earned=10, active=True),
        engine.MonthOfPoints(month=dt.date(2025, 3, 1), earned=5, active=True),
    ]
    found = engine.lapses(months, lambda _: engine.ExpiryRule("inactivity", 1), expired={}, until=dt.date(2030, 1, 1))
    # After January, February passes without activity: January's lot lapses when March begins.
    assert [(lapse.lot, lapse.due, lapse.points) for lapse in found] == [
        (dt.date(2025, 1, 1), dt.date(2025, 3, 1), 10),
        (dt.date(2025, 3, 1), dt.date(2025, 5, 1), 5),
    ]


def test_a_redemption_undone_in_a_later_month_gives_its_points_back_as_a_lot_that_can_lapse():
    months = [
        engine.MonthOfPoints(month=dt.date(2025, 1, 1), earned=90, active=True),
        engine.MonthOfPoints(month=dt.date(2025, 2, 1), redeemed=-50, active=True),
        engine.MonthOfPoints(month=dt.date(2025, 3, 1), redeemed=50, active=True),
    ]
    found = engine.lapses(months, lambda _: engine.ExpiryRule("after_months", 3), expired={}, until=dt.date(2030, 1, 1))
    assert [(lapse.lot, lapse.points) for lapse in found] == [(dt.date(2025, 1, 1), 40), (dt.date(2025, 3, 1), 50)]
