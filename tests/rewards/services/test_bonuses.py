"""The stamp card and the bonus actions (rewards.services.bonuses)."""

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from customers.services import enrol_customer
from rewards.kinds import BirthdayBonus, EnrolmentBonus, ReferralBonus
from rewards.models import PointsEntry
from rewards.selectors import customer_balance
from rewards.services.bonuses import BonusRefused, award_bonus
from rewards.services.ledger import post_entries
from tests.factories import CLASSIC, CustomerFactory, ManagerFactory, at, publish, purchase, refund

pytestmark = pytest.mark.django_db


# --- the stamp card ---------------------------------------------------------------------------------


def test_every_third_qualifying_visit_earns_the_stamp_bonus_in_the_same_transaction():
    publish(CLASSIC | {"stamp_card": {"every": 3, "bonus": 40, "minimum_amount": "5.00"}}, at(2025, 1, 1))
    customer = CustomerFactory()
    purchase(customer, "20.00", when=at(2025, 3, 1))
    purchase(customer, "4.99", when=at(2025, 3, 2))  # below the card's minimum: no stamp
    second = purchase(customer, "6.00", when=at(2025, 3, 3))
    refund(second, "6.00", when=at(2025, 3, 3, 13))  # refunds do not take stamps back
    third = purchase(customer, "10.00", when=at(2025, 3, 4))
    bonus = PointsEntry.objects.get(kind="bonus")
    assert (bonus.points, bonus.transaction, bonus.reason) == (
        40,
        third.transaction,
        "stamp card: 3rd qualifying visit",
    )
    assert bonus.bonus_key == "stamp:3"
    assert bonus.effective_at == third.transaction.occurred_at
    for visit in range(3):
        purchase(customer, "10.00", when=at(2025, 3, 10 + visit))
    assert list(PointsEntry.objects.filter(kind="bonus").order_by("id").values_list("reason", flat=True)) == [
        "stamp card: 3rd qualifying visit",
        "stamp card: 6th qualifying visit",
    ]


def test_visits_before_the_stamp_card_existed_do_not_count():
    customer = CustomerFactory()
    purchase(customer, "10.00", when=at(2025, 3, 1))
    publish(CLASSIC | {"stamp_card": {"every": 2, "bonus": 10}}, at(2025, 3, 2))
    purchase(customer, "10.00", when=at(2025, 3, 3))
    assert not PointsEntry.objects.filter(kind="bonus").exists()
    purchase(customer, "10.00", when=at(2025, 3, 4))
    assert PointsEntry.objects.get(kind="bonus").reason == "stamp card: 2nd qualifying visit"


# --- bonus actions ----------------------------------------------------------------------------------


def test_enrolment_bonus_is_awarded_on_joining_when_the_program_gives_one():
    none = enrol_customer(name="Before")
    assert customer_balance(none.pk) == 0
    publish(CLASSIC | {"bonuses": {"enrolment": 50}}, timezone.now() - dt.timedelta(seconds=1))
    joined = enrol_customer(name="After")
    entry = PointsEntry.objects.get(customer=joined)
    assert (entry.kind, entry.points, entry.bonus_key, entry.reason) == ("bonus", 50, "enrolment", "enrolment bonus")
    with pytest.raises(BonusRefused, match="already has"):
        award_bonus(customer=joined, action=EnrolmentBonus.key, awarded_by=ManagerFactory())


def test_referrer_gets_the_referral_bonus_once_on_the_referred_customers_first_purchase():
    publish(CLASSIC | {"bonuses": {"referral": 150}}, at(2025, 1, 1))
    referrer = CustomerFactory()
    referred = CustomerFactory(referred_by=referrer)
    purchase(referred, "10.00", when=at(2025, 3, 1))
    purchase(referred, "10.00", when=at(2025, 3, 2))
    bonus = PointsEntry.objects.get(kind="bonus")
    assert (bonus.customer, bonus.points, bonus.bonus_key) == (referrer, 150, f"referral:{referred.pk}")
    assert customer_balance(referred.pk) == 0
    staff = ManagerFactory()
    with pytest.raises(BonusRefused, match="already has"):
        award_bonus(customer=referrer, action=ReferralBonus.key, referred=referred, awarded_by=staff)


def test_the_bonus_key_is_a_database_guarantee(refused_by):
    customer = CustomerFactory()
    entry = dict(customer=customer, kind="bonus", points=5, effective_at=timezone.now(), reason="x", bonus_key="k")
    post_entries([PointsEntry(**entry)])
    with refused_by(PointsEntry, "pointsentry_bonus_once_per_key"):
        post_entries([PointsEntry(**entry)])


def test_birthday_command_awards_this_months_birthdays_once_a_year():
    publish(CLASSIC | {"bonuses": {"birthday": 200}}, at(2025, 1, 1))
    march = CustomerFactory(birthday=dt.date(1990, 3, 17))
    april = CustomerFactory(birthday=dt.date(1985, 4, 2))
    CustomerFactory(birthday=None)
    out = StringIO()
    call_command("award_birthday_bonuses", "--date", "2025-03-05", stdout=out)
    assert "awarded: 1" in out.getvalue()
    call_command("award_birthday_bonuses", "--date", "2025-03-28", stdout=out)  # the next day's run, and again
    assert out.getvalue().strip().endswith("awarded: 0")
    entry = PointsEntry.objects.get(kind="bonus")
    assert (entry.customer, entry.points, entry.bonus_key, entry.reason) == (
        march,
        200,
        "birthday:2025",
        "birthday bonus 2025",
    )
    call_command("award_birthday_bonuses", "--date", "2026-03-01", stdout=out)  # a new year
    assert PointsEntry.objects.filter(customer=march, kind="bonus").count() == 2
    assert not PointsEntry.objects.filter(customer=april).exists()


def test_manual_birthday_award_and_refusals():
    publish(CLASSIC | {"bonuses": {"birthday": 200, "referral": 10}}, at(2025, 1, 1))
    customer = CustomerFactory(birthday=dt.date(1990, 3, 17))
    staff = ManagerFactory()
    entry = award_bonus(customer=customer, action=BirthdayBonus.key, awarded_by=staff)
    assert (entry.points, entry.created_by, entry.bonus_key) == (200, staff, f"birthday:{timezone.localdate().year}")
    with pytest.raises(BonusRefused, match="already has"):
        award_bonus(customer=customer, action=BirthdayBonus.key, awarded_by=staff)
    with pytest.raises(BonusRefused, match="gives no enrolment bonus"):
        award_bonus(customer=customer, action=EnrolmentBonus.key, awarded_by=staff)
    with pytest.raises(BonusRefused, match="did not refer"):
        award_bonus(customer=customer, action=ReferralBonus.key, awarded_by=staff, referred=CustomerFactory())
