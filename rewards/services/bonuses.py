"""Bonuses: the stamp card's, and the bonus actions (rewards.kinds: enrolment, birthday, referral).

Keyed bonuses are given once per customer: a unique constraint on (customer, bonus_key) is the
guarantee; the checks here only avoid tripping it.
"""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone

from customers.models import Customer
from transactions.models import Transaction

from .. import engine
from ..kinds import BONUS_ACTIONS, BirthdayBonus, EnrolmentBonus, FeedbackBonus, ReferralBonus
from ..local_time import local_midnight
from ..models import PointsEntry, Program, RuleVersion
from ..selectors import carried, rule_version_at
from .books import closed_books
from .ledger import lock_customer, post_entries


class BonusRefused(ValueError):
    """A bonus that cannot be awarded: the program gives none, or the customer already has it."""


def bonus_action_choices() -> list[tuple[str, str]]:
    """The bonus actions staff may award by hand, for a form's choice of which to award."""
    return [(key, action.label) for key, action in BONUS_ACTIONS.items() if action.staff_awardable]


def _ordinal(number: int) -> str:
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def purchase_bonuses(*, purchase, version: RuleVersion, rule: engine.Rule, entry: PointsEntry) -> list[PointsEntry]:
    """The (unsaved) bonus entries a purchase triggers beside its earn `entry` (not yet in the ledger): the
    stamp card's bonus on every Nth qualifying visit, and the referrer's bonus on a referred customer's first
    purchase. Call inside the purchase's database transaction.

    Counting visits and first purchases needs the customer's purchases serialised, so the customer's row is
    locked first when there is anything to count: two purchases of one customer cannot count the same
    visit. Visits are counted over the customer's stamped earn entries: every purchase that qualified under
    a version with a stamp card. Refunds do not take stamps back (the visit happened).
    """
    customer = purchase.customer
    referral = ReferralBonus.key
    refers = bool(customer.referred_by_id and rule.bonuses.points(referral))
    if not (entry.stamped and rule.stamp_card is not None) and not refers:
        return []
    lock_customer(customer.pk)
    bonuses = []
    card = rule.stamp_card
    if card is not None and entry.stamped:
        # The stamped earns in the ledger and those of detached months (carried).
        visit = (
            PointsEntry.objects.filter(customer_id=customer.pk, kind=PointsEntry.Kind.EARN, stamped=True).aggregate(
                visits=Count("id") + carried(customer.pk, "stamps")
            )["visits"]
            + 1
        )
        if points := card.bonus_for_visit(visit):
            bonuses.append(
                PointsEntry(
                    customer_id=customer.pk,
                    kind=PointsEntry.Kind.BONUS,
                    points=points,
                    effective_at=purchase.occurred_at,
                    transaction=purchase,
                    rule_version=version,
                    created_by=purchase.recorded_by,
                    reason=f"stamp card: {_ordinal(visit)} qualifying visit",
                    note=f"every {card.every} qualifying visits earn {card.bonus}: visit {visit}",
                    bonus_key=f"stamp:{visit}",
                    facts={"visit": visit, "every": card.every},
                )
            )
    if refers:
        action = BONUS_ACTIONS[referral]
        key = action.ledger_key(on=timezone.localdate(purchase.occurred_at), referred_id=customer.pk)
        first = not customer.transactions.filter(kind=Transaction.Kind.PURCHASE).exclude(pk=purchase.pk).exists()
        already = PointsEntry.objects.filter(
            customer_id=customer.referred_by_id, kind=PointsEntry.Kind.BONUS, bonus_key=key
        ).exists()
        if first and not already:
            bonuses.append(
                PointsEntry(
                    customer_id=customer.referred_by_id,
                    kind=PointsEntry.Kind.BONUS,
                    points=rule.bonuses.points(referral),
                    effective_at=purchase.occurred_at,
                    transaction=purchase,
                    rule_version=version,
                    created_by=purchase.recorded_by,
                    reason=action.first_purchase_reason(customer.member_number),
                    bonus_key=key,
                )
            )
    return bonuses


def _action_entry(
    action,
    *,
    customer_id: int,
    points: int,
    version: RuleVersion,
    moment: dt.datetime,
    referred=None,
    awarded_by=None,
    survey_id: int | None = None,
) -> PointsEntry:
    """The (unsaved) ledger entry of a bonus action for a customer: its points, once-only key and reason."""
    day = timezone.localdate(moment)
    return PointsEntry(
        customer_id=customer_id,
        kind=PointsEntry.Kind.BONUS,
        points=points,
        effective_at=moment,
        rule_version=version,
        created_by=awarded_by,
        reason=action.reason(on=day, referred_member=referred.member_number if referred is not None else ""),
        bonus_key=action.ledger_key(
            on=day, referred_id=referred.pk if referred is not None else None, survey_id=survey_id
        ),
    )


def award_bonus(
    *,
    customer,
    action: str,
    awarded_by=None,
    moment: dt.datetime | None = None,
    referred=None,
    program: Program | None = None,
    survey_id: int | None = None,
) -> PointsEntry:
    """Award a bonus action (a key of kinds.BONUS_ACTIONS) to a customer once: the enrolment bonus, this
    year's birthday bonus, the referral bonus for `referred` (a customer they referred), or the feedback
    bonus for the survey `survey_id` they answered (members.Feedback; once per survey). Points come
    from the rule version in force at `moment` (now by default). Refused with BonusRefused when the program
    gives no such bonus or the customer already has it (the unique key is the guarantee, also against two
    staff clicking at once).
    """
    moment = moment or timezone.now()
    version = rule_version_at(moment, program)
    bonus = BONUS_ACTIONS[str(action)]
    points = version.engine_rule().bonuses.points(bonus.key)
    if not points:
        raise BonusRefused(f"The program gives no {bonus.label.lower()}.")
    if bonus.key == ReferralBonus.key and (referred is None or referred.referred_by_id != customer.pk):
        raise BonusRefused(f"{customer.name} did not refer that customer.")
    if bonus.key == FeedbackBonus.key and survey_id is None:
        raise BonusRefused("A feedback bonus is given when the member answers a survey.")
    entry = _action_entry(
        bonus, customer_id=customer.pk, points=points, version=version, moment=moment, referred=referred,
        awarded_by=awarded_by, survey_id=survey_id,
    )  # fmt: skip
    # A bonus for a moment in a closed month (a back-dated enrolment) is posted in the first open month.
    entry.effective_at = closed_books().open_moment(entry.effective_at)
    try:
        with transaction.atomic():
            post_entries([entry])
    except IntegrityError:
        raise BonusRefused(f"{customer.name} already has the {bonus.label.lower()} ({entry.bonus_key}).") from None
    return entry


def award_enrolment_bonus(*, customer, awarded_by=None) -> PointsEntry | None:
    """The enrolment bonus of the version in force when the customer joined, if the program gives one."""
    try:
        return award_bonus(
            customer=customer, action=EnrolmentBonus.key, awarded_by=awarded_by, moment=customer.date_joined
        )
    except (BonusRefused, LookupError):
        return None


def enrolment_bonus_entries(customer_ids: list[int], *, moment: dt.datetime) -> list[PointsEntry]:
    """The (unsaved) enrolment bonus entries of customers who joined at `moment` together (a bulk writer's
    new members), under the version in force then; none when the program gives no enrolment bonus."""
    try:
        version = rule_version_at(moment)
    except LookupError:
        return []
    bonus = BONUS_ACTIONS[EnrolmentBonus.key]
    points = version.engine_rule().bonuses.points(bonus.key)
    if not points:
        return []
    return [
        _action_entry(bonus, customer_id=customer_id, points=points, version=version, moment=moment)
        for customer_id in customer_ids
    ]


def award_birthday_bonuses(*, day: dt.date | None = None, program: Program | None = None) -> int:
    """Award the birthday bonus to every customer whose birthday month is `day`'s month (a local date,
    today by default) and who has no birthday bonus for that year yet. Returns how many were awarded.

    Safe to run twice, also at the same time: customers already awarded are left out, and the unique
    (customer, "birthday:<year>") key stops a concurrent run from awarding again (it is retried once).
    """
    today = timezone.localdate()
    day = day or today
    moment = timezone.now() if day == today else local_midnight(day)
    version = rule_version_at(moment, program)
    bonus = BONUS_ACTIONS[BirthdayBonus.key]
    points = version.engine_rule().bonuses.points(bonus.key)
    if not points:
        return 0
    key = bonus.ledger_key(on=day)
    # A run for a day of a closed month posts in the first open month; the key keeps the birthday's year.
    effective_at = closed_books().open_moment(moment)
    for attempt in range(2):
        awarded = PointsEntry.objects.filter(kind=PointsEntry.Kind.BONUS, bonus_key=key).values("customer_id")
        due = Customer.objects.filter(birthday__month=day.month).exclude(pk__in=awarded).values_list("pk", flat=True)
        entries = [
            _action_entry(bonus, customer_id=customer_id, points=points, version=version, moment=moment)
            for customer_id in due.iterator(chunk_size=2000)
        ]
        for entry in entries:
            entry.effective_at = effective_at
        try:
            with transaction.atomic():
                post_entries(entries)
            return len(entries)
        except IntegrityError:
            if attempt:
                raise
    return 0
