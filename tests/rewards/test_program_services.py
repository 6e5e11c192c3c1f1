"""Versions by moment, refunds under older versions, the stamp card and bonus actions, publishing drafts."""

import datetime as dt
from decimal import Decimal
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.utils import timezone

from customers.services import enrol_customer
from rewards import engine
from rewards.kinds import BirthdayBonus, EnrolmentBonus, ReferralBonus
from rewards.models import PointsEntry, ProgramDraft, RuleVersion
from rewards.selectors import customer_balance, default_program, rule_version_at
from rewards.services.bonuses import BonusRefused, award_bonus
from rewards.services.ledger import post_entries
from rewards.services.program import PublishRefused, publish_draft, publish_rule_version, save_draft
from tests.factories import CustomerFactory, ManagerFactory, StoreFactory, at, purchase, refund

pytestmark = pytest.mark.django_db

CLASSIC = engine.CLASSIC_RULE.to_dict()


def publish(rule: dict, effective_from, **kwargs) -> RuleVersion:
    """Publish a version directly (the service itself allows any moment; the pages refuse the past)."""
    return publish_rule_version(
        program=default_program(), rule=engine.Rule.from_dict(rule), effective_from=effective_from, **kwargs
    )


def with_promotion(**promotion) -> dict:
    return CLASSIC | {"promotions": [{"name": "Tuesday promotion", "multiplier": "2"} | promotion]}


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


# --- drafts and publishing --------------------------------------------------------------------------


def test_publishing_a_draft_now_or_later_but_never_in_the_past():
    manager = ManagerFactory()
    program = default_program()
    draft = save_draft(
        program=program,
        rule=engine.Rule.from_dict(with_promotion(starts="2025-01-01", ends="2030-12-31")),
        author=manager,
    )
    with pytest.raises(PublishRefused, match="past"):
        publish_draft(draft=draft, published_by=manager, effective_from=timezone.now() - dt.timedelta(hours=1))
    assert ProgramDraft.objects.exists()
    later = timezone.now() + dt.timedelta(days=7)
    version = publish_draft(draft=draft, published_by=manager, effective_from=later, note="spring")
    assert (version.effective_from, version.published_by, version.note) == (later, manager, "spring")
    assert version.rule == draft.rule
    assert not ProgramDraft.objects.exists()
    second = save_draft(program=program, rule=engine.CLASSIC_RULE, author=manager)
    before = timezone.now()
    now_version = publish_draft(draft=second, published_by=manager)
    assert before <= now_version.effective_from <= timezone.now()
    assert rule_version_at(timezone.now()) == now_version


def test_old_entries_are_never_edited_by_publishing():
    customer = CustomerFactory()
    bought = purchase(customer, "120.00", when=at(2025, 3, 4))
    publish({"bands": [{"threshold": 0, "rate": "10"}]}, timezone.now())
    bought.entry.refresh_from_db()
    assert bought.entry.points == 90
    assert Decimal(bought.entry.detail["amount"]) == Decimal("120.00")


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


@pytest.mark.parametrize("command", ["award_birthday_bonuses", "expire_points", "review_tiers"])
def test_the_daily_commands_refuse_a_bad_date_and_change_nothing(command):
    before = PointsEntry.objects.count()
    with pytest.raises(CommandError, match=r"--date: must be YYYY-MM-DD, not '2025-02-30'"):
        call_command(command, "--date", "2025-02-30", stdout=StringIO())
    assert PointsEntry.objects.count() == before
