"""Writes with business meaning at the till: purchases and refunds.

The admin, the till page and the importer all record through these functions, so a purchase earns
the same points whichever way it arrives.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

import audit
from rewards import engine
from rewards.models import PointsEntry, Program
from rewards.selectors import customer_balance, rule_version_at
from rewards.services import (
    earn_entry,
    lock_customer,
    move_up_if_qualified,
    post_entries,
    purchase_bonus_entries,
    reversal_entry,
    tier_multiplier_of,
)

from .amounts import max_amount
from .models import Store, TillSettings, Transaction


@dataclass(frozen=True)
class RecordedPurchase:
    transaction: Transaction
    entry: PointsEntry
    earning: engine.Earning | None  # None when an idempotent resubmission found the earlier purchase
    created: bool


@dataclass(frozen=True)
class RecordedRefund:
    transaction: Transaction
    entry: PointsEntry
    created: bool


def generate_receipt_number(moment: dt.datetime | None = None) -> str:
    """A receipt number for a purchase recorded without one: date and random letters, e.g. R20250131-7KQ2XM."""
    local = timezone.localtime(moment or timezone.now())
    alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
    return f"R{local:%Y%m%d}-" + "".join(secrets.choice(alphabet) for _ in range(6))


def _check_amount(amount: Decimal, *, field: str = "amount") -> None:
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise ValidationError({field: "Amount must be a number like 12.50."}, code="invalid")
    if amount < 0:
        raise ValidationError({field: "Amount cannot be negative."}, code="negative")
    if amount != amount.quantize(Decimal("0.01")):
        raise ValidationError({field: "Amount can have at most two decimal places."}, code="places")
    if amount > max_amount():
        raise ValidationError({field: f"Amount cannot be more than {max_amount()}."}, code="too_large")


def _check_moment(moment: dt.datetime) -> None:
    if timezone.is_naive(moment):
        raise ValueError("transaction moments must be timezone-aware")


def _receipt_taken(store: Store, receipt_number: str) -> ValidationError:
    return ValidationError(
        {"receipt_number": f"Receipt {receipt_number} is already recorded at {store.name}."}, code="duplicate_receipt"
    )


def _earlier(idempotency_key: uuid.UUID | None, kind: str) -> Transaction | None:
    """The transaction an idempotency key already recorded, which must be of the same kind."""
    if idempotency_key is None:
        return None
    earlier = Transaction.objects.filter(idempotency_key=idempotency_key).select_related("customer", "store").first()
    if earlier is not None and earlier.kind != kind:
        raise ValidationError(
            "This form was already used to record something else. Start again from a fresh page.",
            code="idempotency_key_reused",
        )
    return earlier


def record_purchase(
    *,
    customer,
    store: Store,
    amount: Decimal,
    occurred_at: dt.datetime | None = None,
    receipt_number: str = "",
    recorded_by=None,
    source: str = Transaction.Source.TILL,
    idempotency_key: uuid.UUID | None = None,
) -> RecordedPurchase:
    """Record a purchase and its earn entry (points of the rule version in force at its moment), atomically,
    with the bonuses it triggers (the stamp card's, the referrer's) in the same database transaction.

    With an idempotency key, a second call with the same key returns the first purchase unchanged.
    A receipt number already used in the store is refused.
    """
    # A resubmitted form returns what it recorded the first time, before anything else is judged.
    if earlier := _earlier(idempotency_key, Transaction.Kind.PURCHASE):
        return RecordedPurchase(earlier, earlier.points_entries.get(kind=PointsEntry.Kind.EARN), None, created=False)
    _check_amount(amount)
    occurred_at = occurred_at or timezone.now()
    _check_moment(occurred_at)
    receipt_number = (receipt_number or "").strip() or generate_receipt_number(occurred_at)
    version = rule_version_at(occurred_at)
    try:
        with transaction.atomic():
            purchase = Transaction.objects.create(
                customer=customer,
                store=store,
                kind=Transaction.Kind.PURCHASE,
                amount=amount,
                occurred_at=occurred_at,
                receipt_number=receipt_number,
                recorded_by=recorded_by,
                source=source,
                idempotency_key=idempotency_key,
            )
            rule = version.engine_rule()
            # The purchase earns at the tier held before it; crossing a threshold counts from the next one.
            entry, earning = earn_entry(
                purchase=purchase, version=version, rule=rule, tier_multiplier=tier_multiplier_of(customer.pk)
            )
            bonuses = []
            if rule.stamp_card is not None or (customer.referred_by_id and rule.bonuses.referral):
                # Counting visits and first purchases needs this customer's purchases serialised.
                lock_customer(customer.pk)
                bonuses = purchase_bonus_entries(purchase=purchase, version=version, entry=entry, rule=rule)
            post_entries([entry, *bonuses])
            move_up_if_qualified(customer_id=customer.pk, moment=occurred_at)
    except IntegrityError:
        # Two submissions of one form racing each other: the loser finds the winner's purchase.
        if earlier := _earlier(idempotency_key, Transaction.Kind.PURCHASE):
            return RecordedPurchase(earlier, earlier.points_entries.get(kind=PointsEntry.Kind.EARN), None, False)
        if Transaction.objects.filter(store=store, receipt_number=receipt_number).exists():
            raise _receipt_taken(store, receipt_number) from None
        raise
    return RecordedPurchase(purchase, entry, earning, created=True)


def record_refund(
    *,
    purchase: Transaction,
    amount: Decimal,
    occurred_at: dt.datetime | None = None,
    store: Store | None = None,
    receipt_number: str = "",
    recorded_by=None,
    source: str = Transaction.Source.TILL,
    idempotency_key: uuid.UUID | None = None,
) -> RecordedRefund:
    """Refund all or part of a purchase and reverse the points that part earned.

    The customer keeps the points of what was not refunded, under the rule version the purchase
    earned with. A refund larger than what is left of the purchase is refused.
    """
    # A resubmitted form returns what it recorded the first time, before anything else is judged.
    if earlier := _earlier(idempotency_key, Transaction.Kind.REFUND):
        return RecordedRefund(earlier, earlier.points_entries.get(kind=PointsEntry.Kind.REVERSAL), created=False)
    _check_amount(amount)
    if amount == 0:
        raise ValidationError({"amount": "A refund must be more than 0.00."}, code="zero")
    if purchase.kind != Transaction.Kind.PURCHASE:
        raise ValidationError("Only a purchase can be refunded.", code="not_a_purchase")
    occurred_at = occurred_at or timezone.now()
    _check_moment(occurred_at)
    if occurred_at < purchase.occurred_at:
        raise ValidationError({"occurred_at": "A refund cannot happen before its purchase."}, code="before_purchase")
    store = store or purchase.store
    receipt_number = (receipt_number or "").strip() or generate_receipt_number(occurred_at)
    try:
        with transaction.atomic():
            # The conditional UPDATE is the guard against over-refunding, also when two tills refund
            # the same purchase at once: only one of them can move refunded_amount past the limit.
            claimed = Transaction.objects.filter(
                pk=purchase.pk, kind=Transaction.Kind.PURCHASE, refunded_amount__lte=F("amount") - amount
            ).update(refunded_amount=F("refunded_amount") + amount)
            if not claimed:
                purchase.refresh_from_db(fields=["refunded_amount"])
                left = purchase.refundable_amount
                raise ValidationError(
                    {"amount": f"A refund cannot exceed what is left of the purchase ({left:.2f})."},
                    code="exceeds_purchase",
                )
            purchase.refresh_from_db(fields=["refunded_amount"])
            refund = Transaction.objects.create(
                customer_id=purchase.customer_id,
                store=store,
                kind=Transaction.Kind.REFUND,
                amount=amount,
                occurred_at=occurred_at,
                receipt_number=receipt_number,
                refund_of=purchase,
                recorded_by=recorded_by,
                source=source,
                idempotency_key=idempotency_key,
            )
            earned = PointsEntry.objects.select_related("rule_version").get(
                transaction=purchase, kind=PointsEntry.Kind.EARN
            )
            entry = reversal_entry(
                refund=refund, purchase=purchase, refunded_before=purchase.refunded_amount - amount, earned=earned
            )
            _apply_negative_balance_policy(entry, program_id=earned.rule_version.program_id)
            post_entries([entry])
            audit.record(
                audit.Event.REFUND,
                actor=recorded_by,
                target=refund,
                detail={
                    "purchase": purchase.receipt_number,
                    "amount": amount,
                    "points": entry.points,
                    "source": source,
                },
            )
    except IntegrityError:
        if earlier := _earlier(idempotency_key, Transaction.Kind.REFUND):
            return RecordedRefund(earlier, earlier.points_entries.get(kind=PointsEntry.Kind.REVERSAL), created=False)
        if Transaction.objects.filter(store=store, receipt_number=receipt_number).exists():
            raise _receipt_taken(store, receipt_number) from None
        raise
    return RecordedRefund(refund, entry, created=True)


def _apply_negative_balance_policy(entry: PointsEntry, *, program_id: int) -> None:
    """Under "take what remains", cap a reversal at the customer's balance (points already spent cannot be
    taken back) and record the shortfall on the entry; under "allow", leave the full reversal.

    Locks the customer's row first, so a redemption at another till cannot spend the same points meanwhile.
    """
    policy = Program.objects.filter(pk=program_id).values_list("negative_balance_policy", flat=True).first()
    if policy == Program.NegativeBalance.ALLOW or entry.points >= 0:
        return
    lock_customer(entry.customer_id)
    balance = customer_balance(entry.customer_id)
    taken = max(entry.points, -max(balance, 0))
    shortfall = taken - entry.points
    if shortfall:
        entry.detail = {**entry.detail, "points": taken, "full_reversal": entry.points, "shortfall": shortfall}
        entry.explanation = (
            f"{entry.explanation}; only {-taken} of {-entry.points} taken back: the balance was {balance}, "
            f"shortfall {shortfall} points (the program does not allow a negative balance)"
        )
        entry.points = taken


def remember_till_store(*, user, store: Store) -> None:
    """Remember the store a user's till records at, for their next visit (also after signing out)."""
    TillSettings.objects.update_or_create(user=user, defaults={"store": store, "updated_at": timezone.now()})
