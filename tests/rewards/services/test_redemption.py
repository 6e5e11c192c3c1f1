"""Rewards at the till: redeeming, undoing, the limits of a reward, and a balance that never goes below zero."""

import datetime as dt
import uuid

import pytest
from django.db import connection
from django.test import Client

from rewards.models import PointsEntry, Redemption, Reward
from rewards.selectors import affordable_rewards, customer_balance, program_by_month
from rewards.services.ledger import post_entries, rollup_differences
from rewards.services.redemption import RedemptionRefused, UndoRefused, redeem, undo_redemption
from tests.concurrency import at_once
from tests.factories import (
    CustomerFactory,
    ManagerFactory,
    RewardFactory,
    StaffFactory,
    at,
    default_store,
    purchase,
)
from tests.migration_rows import restore_migration_rows
from tests.pages import text_of

pytestmark = pytest.mark.django_db

TILL = "/till/"


@pytest.fixture
def rich(db):
    """A customer with 90 points (a 120.00 purchase under the classic rule)."""
    customer = CustomerFactory(name="Jane Doe")
    purchase(customer, "120.00", when=at(2025, 3, 3))
    return customer


def test_redeeming_posts_a_redemption_entry_of_the_cost_and_records_who_and_where(rich, staff):
    reward = RewardFactory(name="5 off", points_cost=50)
    redemption = redeem(customer=rich, reward=reward, store=default_store(), redeemed_by=staff)

    assert customer_balance(rich.pk) == 40
    entry = redemption.entry
    assert (entry.kind, entry.points, entry.created_by) == (PointsEntry.Kind.REDEMPTION, -50, staff)
    assert (redemption.points, redemption.redeemed_by, redemption.store) == (50, staff, default_store())
    # The roll-up's redeemed column holds it too, so reports stay a sum of the ledger.
    month = dt.date.fromisoformat(str(entry.effective_at.date().replace(day=1)))
    assert sum(row.redeemed for row in program_by_month(start=month, months=1)) == -50


def test_a_reward_costing_more_than_the_balance_is_refused_and_nothing_posts(rich, staff):
    reward = RewardFactory(points_cost=91)
    with pytest.raises(RedemptionRefused, match="has 90 points"):
        redeem(customer=rich, reward=reward, store=default_store(), redeemed_by=staff)
    assert customer_balance(rich.pk) == 90
    assert not Redemption.objects.exists()


def test_stock_runs_out_and_the_per_customer_limit_counts_only_redemptions_not_undone(rich, staff):
    scarce = RewardFactory(points_cost=10, stock=1)
    redeem(customer=rich, reward=scarce, store=default_store(), redeemed_by=staff)
    scarce.refresh_from_db()
    assert scarce.stock == 0
    with pytest.raises(RedemptionRefused, match="out of stock"):
        redeem(customer=rich, reward=scarce, store=default_store(), redeemed_by=staff)

    once = RewardFactory(points_cost=10, per_customer_limit=1)
    first = redeem(customer=rich, reward=once, store=default_store(), redeemed_by=staff)
    with pytest.raises(RedemptionRefused, match="limit is 1"):
        redeem(customer=rich, reward=once, store=default_store(), redeemed_by=staff)
    undo_redemption(redemption=first, undone_by=staff)
    redeem(customer=rich, reward=once, store=default_store(), redeemed_by=staff)
    assert customer_balance(rich.pk) == 70


def test_a_reward_outside_its_active_days_is_neither_offered_nor_redeemable(rich, staff):
    old = RewardFactory(points_cost=10, active_until=dt.date(2000, 1, 31))
    future = RewardFactory(points_cost=10, active_from=dt.date(2999, 1, 1))
    dear = RewardFactory(points_cost=500)
    open_one = RewardFactory(points_cost=90)
    assert list(affordable_rewards(rich.pk, balance=90)) == [open_one]
    for reward in (old, future):
        with pytest.raises(RedemptionRefused, match="not available"):
            redeem(customer=rich, reward=reward, store=default_store(), redeemed_by=staff)
    assert dear.pk


def test_undo_the_same_day_gives_the_points_and_the_stock_back_and_records_who(rich, staff):
    reward = RewardFactory(points_cost=50, stock=3)
    redemption = redeem(customer=rich, reward=reward, store=default_store(), redeemed_by=staff)

    undone = undo_redemption(redemption=redemption, undone_by=staff)

    assert customer_balance(rich.pk) == 90
    assert undone.undone_by == staff and undone.undone_at is not None
    back = undone.undo_entry
    assert (back.kind, back.points, back.corrects_id, back.created_by) == ("redemption", 50, redemption.entry_id, staff)
    assert back.reason == f"undo redemption #{redemption.pk}"
    reward.refresh_from_db()
    assert reward.stock == 3
    with pytest.raises(UndoRefused, match="already undone"):
        undo_redemption(redemption=undone, undone_by=staff)


def test_a_past_days_redemption_is_undone_only_by_a_manager(rich, staff):
    reward = RewardFactory(points_cost=50)
    redemption = redeem(
        customer=rich, reward=reward, store=default_store(), redeemed_by=staff, moment=at(2025, 3, 4, 10)
    )
    with pytest.raises(UndoRefused, match="only by a manager"):
        undo_redemption(redemption=redemption, undone_by=staff)
    assert customer_balance(rich.pk) == 40

    undo_redemption(redemption=redemption, undone_by=ManagerFactory())
    assert customer_balance(rich.pk) == 90


def test_a_resubmitted_redemption_form_redeems_once(rich, staff):
    reward = RewardFactory(points_cost=10)
    key = uuid.uuid4()
    first = redeem(customer=rich, reward=reward, store=default_store(), redeemed_by=staff, idempotency_key=key)
    again = redeem(customer=rich, reward=reward, store=default_store(), redeemed_by=staff, idempotency_key=key)
    assert first == again
    assert customer_balance(rich.pk) == 80
    with pytest.raises(RedemptionRefused, match="already used"):
        redeem(
            customer=rich,
            reward=RewardFactory(points_cost=5),
            store=default_store(),
            redeemed_by=staff,
            idempotency_key=key,
        )
    assert customer_balance(rich.pk) == 80


def test_a_resubmitted_reward_form_answers_the_same_confirmation_and_redeems_once(rich, staff_client):
    reward = RewardFactory(name="Free coffee", points_cost=30)
    form = {"customer": rich.pk, "reward": reward.pk, "idempotency_key": str(uuid.uuid4())}
    first = staff_client.post("/till/redeem/", form)
    again = staff_client.post("/till/redeem/", form)  # a double click, the back button
    redemption = Redemption.objects.get()
    assert first.headers["Location"] == again.headers["Location"] == f"/till/?redeemed={redemption.pk}"
    assert customer_balance(rich.pk) == 60


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_submissions_of_one_reward_form_racing_each_other_redeem_once_and_answer_alike():
    """Two connections with the same key at the same moment: the second waits on the customer's row, finds
    the first redemption and answers with its confirmation (never the unique key's error, a 500)."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers, so the two requests cannot race")
    restore_migration_rows()  # a transactional test may follow one that emptied the database
    staff = StaffFactory()
    customer = CustomerFactory()
    purchase(customer, "120.00")  # 90 points
    reward = RewardFactory(points_cost=30)
    form = {"customer": customer.pk, "reward": reward.pk, "idempotency_key": str(uuid.uuid4())}

    def submit():
        client = Client()  # one each: a browser tab each, on a connection each
        client.force_login(staff)
        response = client.post("/till/redeem/", form)
        return response.status_code, response.headers.get("Location")

    answers = at_once(2, submit)
    redemption = Redemption.objects.get()
    assert answers == [(302, f"/till/?redeemed={redemption.pk}")] * 2
    assert customer_balance(customer.pk) == 60
    assert rollup_differences() == []


def test_an_undo_entry_without_the_entry_it_corrects_is_refused_by_the_database(rich, staff, refused_by):
    with refused_by(PointsEntry, "pointsentry_redemption_has_author"):
        PointsEntry.objects.create(
            customer=rich, kind="redemption", points=5, effective_at=at(2025, 3, 3), created_by=staff
        )


# ---------------------------------------------------------------------------------------------------
# At the till.


def test_the_till_offers_the_affordable_rewards_and_redeeming_shows_points_spent_and_new_balance(
    rich, staff_client, staff
):
    coffee = RewardFactory(name="Free coffee", points_cost=30, benefit=Reward.Benefit.FREE_ITEM, amount_off=None)
    RewardFactory(name="Weekend away", points_cost=5000)

    response = staff_client.get(TILL, {"customer": rich.pk})
    page = text_of(response)
    assert "Free coffee" in page
    assert 'aria-label="Redeem Weekend away"' not in response.content.decode()
    assert "4,910 points to Weekend away" in page  # what they are saving towards instead

    response = staff_client.post(
        "/till/redeem/", {"customer": rich.pk, "reward": coffee.pk, "idempotency_key": str(uuid.uuid4())}
    )
    redemption = Redemption.objects.get()
    assert response.headers["Location"] == f"/till/?redeemed={redemption.pk}"
    confirmation = text_of(staff_client.get(response.headers["Location"]))
    assert "Redeemed Free coffee for Jane Doe" in confirmation
    assert "30 points spent · new balance 60 points" in confirmation
    assert redemption.redeemed_by == staff


def test_a_refused_redemption_at_the_till_says_why_and_posts_nothing(rich, staff_client):
    dear = RewardFactory(name="Dear", points_cost=500)
    response = staff_client.post("/till/redeem/", {"customer": rich.pk, "reward": dear.pk}, follow=True)
    assert "has 90 points; Dear needs 500" in text_of(response)
    assert customer_balance(rich.pk) == 90


def test_undo_at_the_till_same_day_by_staff_and_refused_for_an_earlier_day(rich, staff_client, staff):
    reward = RewardFactory(points_cost=50)
    today = redeem(customer=rich, reward=reward, store=default_store(), redeemed_by=staff)
    earlier = redeem(
        customer=rich,
        reward=RewardFactory(points_cost=10),
        store=default_store(),
        redeemed_by=staff,
        moment=at(2025, 3, 4),
    )

    assert staff_client.post(f"/till/redemptions/{today.pk}/undo/").status_code == 302
    assert staff_client.post(f"/till/redemptions/{earlier.pk}/undo/").status_code == 403
    assert customer_balance(rich.pk) == 80


def test_managers_keep_the_catalog(manager_client):
    response = manager_client.post(
        "/program/rewards/",
        {
            "name": "Free delivery",
            "points_cost": "200",
            "benefit": "free_delivery",
            "stock": "",
            "per_customer_limit": "2",
        },
    )
    assert response.status_code == 302
    reward = Reward.objects.get()
    assert (reward.name, reward.points_cost, reward.per_customer_limit, reward.stock) == ("Free delivery", 200, 2, None)
    refused = manager_client.post("/program/rewards/", {"name": "Off", "points_cost": "10", "benefit": "amount_off"})
    assert "Say how much" in text_of(refused)
    assert "Free delivery" in text_of(manager_client.get("/program/rewards/"))


def test_the_catalog_is_for_managers(staff_client):
    assert staff_client.get("/program/rewards/").status_code == 403


# ---------------------------------------------------------------------------------------------------
# Two tills at once.


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_twenty_simultaneous_redemptions_against_a_balance_for_five_let_exactly_five_through():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL's row locks and real concurrent connections")
    restore_migration_rows()  # a transactional test may follow one that emptied the database
    staff = StaffFactory()
    customer = CustomerFactory()
    purchase(customer, "120.00")  # 90 points
    post_entries(
        [
            PointsEntry(
                customer=customer,
                kind="adjustment",
                points=-40,
                effective_at=at(2025, 1, 1),
                created_by=staff,
                reason="test: leave 50 points",
            )
        ]
    )
    assert customer_balance(customer.pk) == 50
    reward = RewardFactory(points_cost=10)

    def till():
        try:
            redeem(customer=customer, reward=reward, store=default_store(), redeemed_by=staff)
        except RedemptionRefused:
            return "refused"
        return "redeemed"

    outcomes = at_once(20, till)
    assert sorted(outcomes) == ["redeemed"] * 5 + ["refused"] * 15
    assert customer_balance(customer.pk) == 0
    assert Redemption.objects.count() == 5
    assert rollup_differences() == []  # each redemption folded into the roll-up in its own transaction
