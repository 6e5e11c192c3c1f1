"""Earning: the one way a purchase earns points and a refund takes them back.

`credit_purchase(purchase)` owns every step of a purchase's earning: the rule version in force at its
moment, the customer's tier multiplier, the earn entry, the stamp-card and referral bonuses (with the
customer's row locked while their history is counted), posting to the ledger, and the tier move.
`reverse_refund(refund)` reverses a refund under the rule version and context its purchase earned in,
under the program's negative-balance policy. The till, the admin and the importer reach the rewards app
through them (transactions.services), and any later path (the API) does too.

For bulk writers (the importer) the arithmetic of one earn entry, `earn_fields`, needs no saved
transaction: it is a function of the amount, the rule, the purchase's context and the tier multiplier,
so a writer can compute it once per distinct key and share it among rows. `credit_purchase` uses it too.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError

from .. import engine
from ..local_time import local_date
from ..models import PointsEntry, RuleVersion
from ..selectors import rule_version_at
from .bonuses import purchase_bonuses
from .books import check_open, month_name, share_books
from .ledger import balance_to_take_from, post_entries
from .tiers import move_up_if_qualified, tier_multiplier_of

NO_RULE = "No earning rule was in force at that moment."


@dataclass(frozen=True)
class EarnFields:
    """What an earn entry holds, computed without a saved purchase: its points, its facts (what it stores
    beside them: see PointsEntry.facts), whether it counts as a stamp-card visit, and the engine's account."""

    points: int
    facts: dict
    stamped: bool
    earning: engine.Earning


@dataclass(frozen=True)
class Credit:
    """What crediting a purchase wrote: its earn entry, the account of it, and the bonus entries it
    triggered (the stamp card's, for the customer; the referral bonus, for the one who referred them)."""

    entry: PointsEntry
    earning: engine.Earning
    bonuses: list[PointsEntry]


def purchase_context(rule: engine.Rule, *, occurred_at: dt.datetime, store_code: str) -> engine.Context:
    """What a rule's promotions look at: the purchase's local date (in TIME_ZONE) and its store's code;
    empty when the rule has no promotions."""
    return engine.Context.of(rule, on=local_date(occurred_at), store=store_code)


def earn_fields(
    *, amount: Decimal, rule: engine.Rule, context: engine.Context, tier_multiplier: Decimal = Decimal(1)
) -> EarnFields:
    """The earn entry of a purchase of `amount` under `rule`, in `context`, at `tier_multiplier`: the same
    whoever writes it (the till one at a time, a bulk writer once per distinct key). Refused with
    engine.TooManyPoints when one entry cannot hold the points."""
    earning = engine.earn(amount, rule, tier_multiplier=tier_multiplier, **context.arguments())
    return EarnFields(
        points=earning.points,
        facts=PointsEntry.earn_facts(context, tier_multiplier),
        stamped=rule.stamp_card is not None and rule.stamp_card.qualifies(amount),
        earning=earning,
    )


def version_in_force(moment: dt.datetime) -> RuleVersion:
    """The rule version a purchase at `moment` earns by; refused beside `occurred_at` when there is none."""
    try:
        return rule_version_at(moment)
    except LookupError:
        raise ValidationError({"occurred_at": NO_RULE}, code="no_rule") from None


def credit_purchase(purchase) -> Credit:
    """Every earning step of a saved purchase, in the caller's database transaction (which the caller rolls
    back on a refusal): the earn entry of the rule version in force at its moment, at the tier the customer
    held before it (crossing a threshold counts from the next purchase), its bonuses, the ledger, the tier.

    Refused with a ValidationError beside `occurred_at` when no rule was in force then, or beside `amount`
    when one ledger entry cannot hold its points.
    """
    check_open(purchase.occurred_at, what="a purchase")
    version = version_in_force(purchase.occurred_at)
    rule = version.engine_rule()
    # The store is read only when the rule has promotions: recording under a rule without them costs no query.
    context = (
        purchase_context(rule, occurred_at=purchase.occurred_at, store_code=purchase.store.code)
        if rule.promotions
        else engine.Context()
    )
    try:
        fields = earn_fields(
            amount=purchase.amount, rule=rule, context=context, tier_multiplier=tier_multiplier_of(purchase.customer_id)
        )
    except engine.TooManyPoints as refusal:
        raise ValidationError({"amount": f"This purchase cannot be recorded: {refusal.message}."}) from None
    entry = PointsEntry(
        customer_id=purchase.customer_id,
        kind=PointsEntry.Kind.EARN,
        points=fields.points,
        effective_at=purchase.occurred_at,
        transaction=purchase,
        rule_version=version,
        created_by=purchase.recorded_by,
        facts=fields.facts,
        stamped=fields.stamped,
    )
    bonuses = purchase_bonuses(purchase=purchase, version=version, rule=rule, entry=entry)
    post_entries([entry, *bonuses])
    move_up_if_qualified(customer_id=purchase.customer_id, moment=purchase.occurred_at)
    return Credit(entry=entry, earning=fields.earning, bonuses=bonuses)


def reversal_entry(*, refund, purchase, refunded_before: Decimal, earned: PointsEntry) -> PointsEntry:
    """The (unsaved) reversal of a refund, by the rule version its purchase earned with and in the context
    (day, store) and tier multiplier its earn entry recorded, so the remainder keeps the purchase's
    promotions: the customer keeps what the unrefunded remainder earns.

    An earn entry without a recorded context earned without promotions: its refunds reverse the same way,
    so the purchase's points and its reversals always add up. Only the rows' own values are read (the
    purchase's amount, customer and receipt; the refund's amount and moment), never a related row, so
    bulk writers may pass unsaved stand-ins.
    """
    rule, context, multiplier = earned.rule_version.engine_rule(), earned.purchase_context(), earned.tier_multiplier()
    points = reversal_points(
        purchase_amount=purchase.amount, refunded_before=refunded_before, refund=refund.amount, rule=rule,
        context=context, tier_multiplier=multiplier,
    )  # fmt: skip
    arguments = {**context.arguments(), "tier_multiplier": multiplier}
    remaining = purchase.amount - refunded_before - refund.amount
    return PointsEntry(
        customer_id=purchase.customer_id,
        kind=PointsEntry.Kind.REVERSAL,
        points=points,
        effective_at=refund.occurred_at,
        transaction=refund,
        rule_version=earned.rule_version,
        created_by=refund.recorded_by,
        corrects=earned,
        note=(
            f"refund of {refund.amount:.2f} from {purchase.amount:.2f} (receipt {purchase.receipt_number}); "
            f"{remaining:.2f} left earns {engine.earn(remaining, rule, **arguments).points} "
            f"under the purchase's rule: {points}"
        ),
        facts={"refund": f"{refund.amount:.2f}", "refunded_before": f"{refunded_before:.2f}", "points": points},
    )


def reversal_points(
    *, purchase_amount: Decimal, refunded_before: Decimal, refund: Decimal, rule: engine.Rule, context: engine.Context,
    tier_multiplier: Decimal,
) -> int:  # fmt: skip
    """The points a refund takes back (<= 0): the purchase's rule, in the context and at the tier multiplier it
    earned in (`reversal_entry`'s number; a reader that needs only the number calls it with the terms it knows)."""
    return engine.reversal(
        purchase_amount=purchase_amount, refunded_before=refunded_before, refund=refund, rule=rule,
        tier_multiplier=tier_multiplier, **context.arguments(),
    )  # fmt: skip


def reverse_refund(refund, *, refunded_before: Decimal, reason: str = "") -> PointsEntry:
    """Every step of a saved refund's reversal, in the caller's database transaction: the reversal of its
    purchase's earn entry (see `reversal_entry`), under the negative-balance policy of the program the
    purchase earned in, posted to the ledger. `refunded_before` is what was refunded of the purchase before;
    `reason` (optional, as staff gave it) is kept on the reversal entry, where the statement shows it."""
    purchase = refund.refund_of
    earned = earn_entry_of(purchase)
    entry = reversal_entry(refund=refund, purchase=purchase, refunded_before=refunded_before, earned=earned)
    _date_in_open_month(entry)
    entry.reason = reason.strip()[:200]
    _take_what_the_policy_allows(entry, earned.rule_version.program)
    post_entries([entry])
    return entry


def earn_entry_of(purchase) -> PointsEntry:
    """The purchase's earn entry, which its refunds reverse (with its rule version's program). A purchase of a
    month detached from the ledger has none left there unless something referred to it (rewards.services.archive):
    its refund is refused, saying why, and nothing is written."""
    try:
        return PointsEntry.objects.select_related("rule_version__program").get(
            transaction=purchase, kind=PointsEntry.Kind.EARN
        )
    except PointsEntry.DoesNotExist:
        raise ValidationError({"refund_of": archived_refusal(purchase.occurred_at)}) from None


def archived_refusal(purchase_moment: dt.datetime) -> ValidationError:
    """Why a purchase whose earn entry left the ledger with its month cannot be refunded (earn_entry_of; the
    importer says it of a stored purchase it finds without an earn entry)."""
    return ValidationError(
        "The points this purchase earned were archived with %(month)s (detached from the ledger): a refund of it "
        "cannot take them back. Adjust the member's points instead if it should.",
        code="archived",
        params={"month": month_name(local_date(purchase_moment).replace(day=1))},
    )


def _date_in_open_month(entry: PointsEntry) -> None:
    """A refund dated in a closed month reverses in the first open month: the refund keeps its date, the
    closed month's books do not move (rewards.services.books). The books are held open from here on."""
    books = share_books()
    moved = books.open_moment(entry.effective_at)
    if moved != entry.effective_at:
        closed = local_date(entry.effective_at).replace(day=1)
        entry.facts = {**entry.facts, "refunded_on": local_date(entry.effective_at).isoformat()}
        entry.note = f"{entry.note}; dated {moved:%Y-%m-%d}: the refund's month, {closed:%B %Y}, is closed"
        entry.effective_at = moved


def _take_what_the_policy_allows(entry: PointsEntry, program) -> None:
    """Under "take what remains", cap a reversal at the customer's balance (points already spent cannot be
    taken back) and record the shortfall on the entry; under "allow", leave the full reversal."""
    if entry.points >= 0:
        return
    balance = balance_to_take_from(entry.customer_id, program)
    if balance is None:
        return
    taken = max(entry.points, -max(balance, 0))
    shortfall = taken - entry.points
    if shortfall:
        entry.facts = {**entry.facts, "points": taken, "full_reversal": entry.points, "shortfall": shortfall}
        entry.note = (
            f"{entry.note}; only {-taken} of {-entry.points} taken back: the balance was {balance}, "
            f"shortfall {shortfall} points (the program does not allow a negative balance)"
        )
        entry.points = taken
