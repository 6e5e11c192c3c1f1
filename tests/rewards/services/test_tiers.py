"""Tiers: qualification by points earned in the window, the purchase that crosses the line, and downgrades."""

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.management import call_command

from rewards.models import CustomerTier, PointsEntry, Program, Tier
from rewards.selectors import affordable_rewards, customer_balance, customer_tier_status, default_program
from rewards.services.redemption import RedemptionRefused, redeem
from rewards.services.tiers import review_tiers
from tests.factories import CustomerFactory, RewardFactory, at, default_store, purchase, refund
from transactions.importing import import_transactions

pytestmark = pytest.mark.django_db


@pytest.fixture
def tiers(db):
    program = default_program()
    return {
        "member": Tier.objects.create(program=program, name="Member", rank=0, threshold=0),
        "vib": Tier.objects.create(program=program, name="VIB", rank=1, threshold=150, multiplier=Decimal("1.25")),
        "rouge": Tier.objects.create(program=program, name="Rouge", rank=2, threshold=400, multiplier=Decimal("1.50")),
    }


def tier_of(customer) -> str:
    return CustomerTier.objects.get(customer=customer).tier.name


def test_the_purchase_that_crosses_the_line_earns_at_the_old_rate_and_the_next_at_the_new(tiers):
    customer = CustomerFactory()
    first = purchase(customer, "120.00", when=at(2025, 3, 1))
    assert (first.entry.points, tier_of(customer)) == (90, "Member")

    crossing = purchase(customer, "120.00", when=at(2025, 3, 2))  # 180 earned: VIB from now on
    assert crossing.entry.points == 90
    assert tier_of(customer) == "VIB"

    next_one = purchase(customer, "120.00", when=at(2025, 3, 3))
    assert next_one.entry.points == 112  # 90 × 1.25 = 112.5, rounded down
    assert "tier ×1.25 → 112" in next_one.entry.explanation
    assert next_one.entry.detail["tier_multiplier"] == "1.25"

    # Refunds reverse by the multiplier each purchase earned with, whatever the tier is now.
    assert refund(next_one, "120.00", when=at(2025, 3, 4)).entry.points == -112
    assert refund(crossing, "120.00", when=at(2025, 3, 4)).entry.points == -90


def test_tiers_qualify_by_points_earned_not_the_balance(tiers, staff):
    customer = CustomerFactory()
    purchase(customer, "120.00", when=at(2025, 3, 1))
    redeem(
        customer=customer,
        reward=RewardFactory(points_cost=90),
        store=default_store(),
        redeemed_by=staff,
        moment=at(2025, 3, 1, 13),
    )
    purchase(customer, "120.00", when=at(2025, 3, 2))
    assert customer_balance(customer.pk) == 90
    assert tier_of(customer) == "VIB"  # 180 earned; spending does not count against it


def test_the_rolling_window_moves_down_after_12_months_without_earning_it_again_and_only_once(tiers):
    customer = CustomerFactory()
    purchase(customer, "120.00", when=at(2025, 1, 5))
    purchase(customer, "120.00", when=at(2025, 1, 6))
    assert tier_of(customer) == "VIB"

    assert review_tiers(day=dt.date(2025, 12, 20)) == {"up": 0, "down": 0}  # still within 12 months
    assert review_tiers(day=dt.date(2026, 2, 3)) == {"up": 0, "down": 1}  # nothing earned Mar 2025–Feb 2026
    assert tier_of(customer) == "Member"
    assert review_tiers(day=dt.date(2026, 2, 3)) == {"up": 0, "down": 0}
    assert review_tiers(day=dt.date(2026, 2, 4)) == {"up": 0, "down": 0}


def test_the_calendar_year_tier_holds_through_the_next_year_and_a_late_run_catches_up(tiers):
    Program.objects.filter(is_default=True).update(tier_window=Program.TierWindow.CALENDAR_YEAR)
    customer = CustomerFactory()
    purchase(customer, "120.00", when=at(2025, 3, 5))
    purchase(customer, "120.00", when=at(2025, 3, 6))
    assert tier_of(customer) == "VIB"

    review_tiers(day=dt.date(2026, 1, 1))
    review_tiers(day=dt.date(2026, 12, 31))
    assert tier_of(customer) == "VIB"  # earned in 2025, kept through 2026
    # Run late (not on January 1st): the same result.
    assert review_tiers(day=dt.date(2027, 1, 19)) == {"up": 0, "down": 1}
    assert tier_of(customer) == "Member"
    assert CustomerTier.objects.get(customer=customer).since.date() == dt.date(2027, 1, 1)


def test_a_program_that_never_downgrades_keeps_the_tier(tiers):
    Program.objects.filter(is_default=True).update(tier_downgrade=Program.TierDowngrade.NEVER)
    customer = CustomerFactory()
    purchase(customer, "120.00", when=at(2025, 1, 5))
    purchase(customer, "120.00", when=at(2025, 1, 6))
    call_command("review_tiers", "--date", "2027-06-01", stdout=io.StringIO())
    assert tier_of(customer) == "VIB"


def test_the_review_moves_up_customers_whose_purchases_came_without_a_tier_move(db):
    customer = CustomerFactory()
    purchase(customer, "120.00", when=at(2025, 1, 5))
    purchase(customer, "120.00", when=at(2025, 1, 6))
    program = default_program()
    Tier.objects.create(program=program, name="VIB", rank=1, threshold=150, multiplier=Decimal("1.25"))
    assert not CustomerTier.objects.exists()
    assert review_tiers(day=dt.date(2025, 2, 1)) == {"up": 1, "down": 0}
    assert tier_of(customer) == "VIB"


def test_imported_purchases_earn_at_the_customers_tier(tiers, tmp_path):
    customer = CustomerFactory(member_number="C1", name="Ann")
    CustomerTier.objects.create(customer=customer, tier=tiers["vib"], since=at(2025, 1, 1))
    path = tmp_path / "record.csv"
    path.write_text(
        "customer_id,customer_name,transaction_id,amount,occurred_at,store,kind,refund_of\n"
        "C1,Ann,R1,120.00,2025-02-01,,,\n"
        "C1,Ann,F1,120.00,2025-02-02,,refund,R1\n"
    )
    result = import_transactions(path)
    assert result.written
    earned = PointsEntry.objects.get(customer=customer, kind="earn")
    assert (earned.points, earned.detail["tier_multiplier"]) == (112, "1.25")
    assert PointsEntry.objects.get(customer=customer, kind="reversal").points == -112


def test_rewards_a_tier_unlocks_are_offered_and_redeemable_only_from_that_tier(tiers, staff):
    member, vib = CustomerFactory(), CustomerFactory()
    for customer, amounts in ((member, ["120.00"]), (vib, ["120.00", "120.00"])):
        for amount in amounts:
            purchase(customer, amount, when=at(2025, 3, 1))
    exclusive = RewardFactory(name="VIB-only", points_cost=10, min_tier=tiers["vib"])
    assert list(affordable_rewards(member.pk, balance=90, tier_rank=0)) == []
    assert list(affordable_rewards(vib.pk, balance=180, tier_rank=1)) == [exclusive]
    with pytest.raises(RedemptionRefused, match="for VIB members and above"):
        redeem(customer=member, reward=exclusive, store=default_store(), redeemed_by=staff)
    redeem(customer=vib, reward=exclusive, store=default_store(), redeemed_by=staff)


def test_the_till_and_the_statement_show_the_tier_and_the_progress_to_the_next(tiers, staff_client, manager_client):
    customer = CustomerFactory()
    purchase(customer, "120.00")
    purchase(customer, "120.00")
    status = customer_tier_status(customer.pk)
    assert (status.tier.name, status.earned, status.next_tier.name, status.to_next) == ("VIB", 180, "Rouge", 220)
    till = staff_client.get("/till/", {"customer": customer.pk}).content.decode()
    assert "VIB" in till and "220 more for Rouge" in till
    statement = manager_client.get(f"/reports/customers/{customer.pk}/").content.decode()
    assert "VIB" in statement and "220 more for Rouge" in statement


def test_managers_define_tiers(manager_client):
    response = manager_client.post(
        "/program/tiers/", {"name": "VIB", "rank": "1", "threshold": "350", "multiplier": "1.25"}
    )
    assert response.status_code == 302
    assert Tier.objects.get().multiplier == Decimal("1.25")
    again = manager_client.post(
        "/program/tiers/", {"name": "Other", "rank": "1", "threshold": "500", "multiplier": "1"}
    )
    assert again.status_code == 200 and Tier.objects.count() == 1


def test_a_recalculation_refuses_a_period_with_tier_earnings_rather_than_take_them_back(tiers, manager):
    from rewards.selectors import rule_version_at
    from rewards.services.recalculation import RecalculationRefused, recalculate

    customer = CustomerFactory()
    for day in (1, 2, 3):
        purchase(customer, "120.00", when=at(2025, 3, day))  # the third earns ×1.25
    with pytest.raises(RecalculationRefused, match="tier multiplier"):
        recalculate(
            program=default_program(),
            version=rule_version_at(at(2025, 3, 1)),
            first_month=dt.date(2025, 3, 1),
            months=1,
            author=manager,
        )
    assert not PointsEntry.objects.filter(kind="adjustment").exists()
