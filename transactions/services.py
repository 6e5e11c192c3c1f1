"""Writes with business meaning at the till: purchases and refunds.

The admin, the till page and the importer all record through these functions (the importer calls the
checks row by row), so a purchase is judged and earns the same whichever way it arrives. What a purchase
earns is the rewards app's business: one call, `credit_purchase` (and `reverse_refund` for a refund).
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

import audit
from events import payloads
from events.models import EventType
from events.services import publish
from rewards import engine
from rewards.models import PointsEntry
from rewards.services.earning import credit_purchase, reverse_refund

from .amounts import max_amount
from .models import Store, TillSettings, Transaction

# A form whose key already recorded something else (another kind, another purchase's refund).
KEY_REUSED = "This form has expired or was already used to record something else: check the values and submit again."


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


def check_amount(amount: Decimal, *, field: str = "amount") -> None:
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise ValidationError({field: "Amount must be a number like 12.50."}, code="invalid")
    if amount < 0:
        raise ValidationError({field: "Amount cannot be negative."}, code="negative")
    if amount != amount.quantize(Decimal("0.01")):
        raise ValidationError({field: "Amount can have at most two decimal places."}, code="places")
    if amount > max_amount():
        raise ValidationError({field: f"Amount cannot be more than {max_amount()}."}, code="too_large")


def check_moment(moment: dt.datetime, *, kind: str = Transaction.Kind.PURCHASE) -> None:
    """A transaction's moment: aware, and not in the future beyond the clock skew the settings allow
    (LOYALTY_CLOCK_SKEW_SECONDS). Every path that records inherits this refusal: the till, the admin, the
    importer (row by row), the API."""
    if timezone.is_naive(moment):
        raise ValueError("transaction moments must be timezone-aware")
    if moment > timezone.now() + dt.timedelta(seconds=settings.LOYALTY_CLOCK_SKEW_SECONDS):
        what = Transaction.Kind(kind).label
        raise ValidationError({"occurred_at": f"A {what.lower()} cannot be in the future."}, code="future")


def check_refund(
    *,
    purchase_kind: str,
    purchase_moment: dt.datetime,
    left: Decimal,
    amount: Decimal,
    occurred_at: dt.datetime | None = None,
    customer=None,
    purchase_customer=None,
) -> None:
    """The refund rules, in one place, on the facts of a refund and its purchase (so the admin's form, the
    service and the importer's stand-ins are judged alike): only a purchase is refunded, by its own
    customer, by more than 0.00, not before it happened, and by no more than is left of it (`left`).

    Raises a ValidationError naming the field of each refusal; its code and params let a caller word it
    for its place (a line of an import file).
    """
    errors: dict[str, ValidationError] = {}
    if purchase_kind != Transaction.Kind.PURCHASE:
        errors["refund_of"] = ValidationError("Only a purchase can be refunded.", code="not_a_purchase")
    if customer is not None and customer != purchase_customer:
        errors["customer"] = ValidationError(
            "A refund belongs to the purchase's customer.",
            code="other_customer",
            params={"customer": customer, "purchase_customer": purchase_customer},
        )
    if amount <= 0:
        errors["amount"] = ValidationError("A refund must be more than 0.00.", code="zero")
    elif amount > left:
        errors["amount"] = _exceeds(left, amount)
    if occurred_at is not None and occurred_at < purchase_moment:
        errors["occurred_at"] = ValidationError("A refund cannot happen before its purchase.", code="before_purchase")
    if errors:
        raise ValidationError(errors)


def check_refund_of(purchase: Transaction, *, amount: Decimal, occurred_at: dt.datetime | None, customer=None) -> None:
    """check_refund on a stored purchase's facts."""
    check_refund(
        purchase_kind=purchase.kind,
        purchase_moment=purchase.occurred_at,
        left=purchase.refundable_amount,
        amount=amount,
        occurred_at=occurred_at,
        customer=customer,
        purchase_customer=purchase.customer if customer is not None else None,
    )


def _exceeds(left: Decimal, amount: Decimal) -> ValidationError:
    return ValidationError(
        "A refund cannot exceed what is left of the purchase (%(left)s).",
        code="exceeds_purchase",
        params={"left": f"{left:.2f}", "amount": f"{amount:.2f}"},
    )


def recorded_with(idempotency_key: uuid.UUID | None, *, kind: str, refund_of: Transaction | None = None):
    """The transaction a form's idempotency key already recorded (a double click, a refresh, the back
    button), or None: the repeat-submission check, in one place. A key that recorded something else (the
    other kind, a refund of another purchase) is refused beside `idempotency_key`."""
    if idempotency_key is None:
        return None
    earlier = Transaction.objects.filter(idempotency_key=idempotency_key).select_related("customer", "store").first()
    if earlier is None:
        return None
    if earlier.kind != kind or (refund_of is not None and earlier.refund_of_id != refund_of.pk):
        raise ValidationError({"idempotency_key": KEY_REUSED}, code="idempotency_key_reused")
    return earlier


def _receipt_taken(store: Store, receipt_number: str) -> ValidationError:
    return ValidationError(
        {"receipt_number": f"Receipt {receipt_number} is already recorded at {store.name}."}, code="duplicate_receipt"
    )


def _entry_of(recorded: Transaction) -> PointsEntry:
    kind = PointsEntry.Kind.EARN if recorded.kind == Transaction.Kind.PURCHASE else PointsEntry.Kind.REVERSAL
    return recorded.points_entries.get(kind=kind)


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
    """Record a purchase and credit it (rewards.services.earning.credit_purchase: its earn entry, the bonuses
    it triggers, the customer's tier), atomically.

    With an idempotency key, a second call with the same key returns the first purchase unchanged.
    A receipt number already used in the store is refused.
    """
    # A resubmitted form returns what it recorded the first time, before anything else is judged.
    if earlier := recorded_with(idempotency_key, kind=Transaction.Kind.PURCHASE):
        return RecordedPurchase(earlier, _entry_of(earlier), None, created=False)
    check_amount(amount)
    occurred_at = occurred_at or timezone.now()
    check_moment(occurred_at)
    receipt_number = (receipt_number or "").strip() or generate_receipt_number(occurred_at)
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
            credit = credit_purchase(purchase)
            publish(
                EventType.PURCHASE_RECORDED,
                payloads.purchase_recorded(
                    purchase,
                    member_number=customer.member_number,
                    points=credit.entry.points,
                    lines=credit.earning.lines(),
                    bonuses=credit.bonuses,
                ),
            )
    except IntegrityError:
        # Two submissions of one form racing each other: the loser finds the winner's purchase.
        if earlier := recorded_with(idempotency_key, kind=Transaction.Kind.PURCHASE):
            return RecordedPurchase(earlier, _entry_of(earlier), None, created=False)
        if Transaction.objects.filter(store=store, receipt_number=receipt_number).exists():
            raise _receipt_taken(store, receipt_number) from None
        raise
    return RecordedPurchase(purchase, credit.entry, credit.earning, created=True)


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
    reason: str = "",
) -> RecordedRefund:
    """Refund all or part of a purchase and reverse the points that part earned
    (rewards.services.earning.reverse_refund). An optional `reason` is kept on the reversal entry and in
    the audit trail.

    The customer keeps the points of what was not refunded, under the rule version the purchase
    earned with. A refund larger than what is left of the purchase is refused.
    """
    # A resubmitted form returns what it recorded the first time, before anything else is judged.
    if earlier := recorded_with(idempotency_key, kind=Transaction.Kind.REFUND, refund_of=purchase):
        return RecordedRefund(earlier, _entry_of(earlier), created=False)
    check_amount(amount)
    occurred_at = occurred_at or timezone.now()
    check_moment(occurred_at, kind=Transaction.Kind.REFUND)
    check_refund_of(purchase, amount=amount, occurred_at=occurred_at)
    store = store or purchase.store
    receipt_number = (receipt_number or "").strip() or generate_receipt_number(occurred_at)
    try:
        with transaction.atomic():
            # The conditional UPDATE is the guard against over-refunding, also when two tills refund
            # the same purchase at once: only one of them can move refunded_amount past the limit.
            claimed = Transaction.objects.filter(
                pk=purchase.pk, kind=Transaction.Kind.PURCHASE, refunded_amount__lte=F("amount") - amount
            ).update(refunded_amount=F("refunded_amount") + amount)
            purchase.refresh_from_db(fields=["refunded_amount"])
            if not claimed:
                # Another till refunded part of it meanwhile: what is left now is less than the amount.
                raise ValidationError({"amount": _exceeds(purchase.refundable_amount, amount)})
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
            entry = reverse_refund(refund, refunded_before=purchase.refunded_amount - amount, reason=reason)
            publish(
                EventType.REFUND_RECORDED,
                payloads.refund_recorded(refund, member_number=purchase.customer.member_number, points=entry.points),
            )
            audit.record(
                audit.Event.REFUND,
                actor=recorded_by,
                target=refund,
                detail={
                    "purchase": purchase.receipt_number,
                    "amount": amount,
                    "points": entry.points,
                    "source": source,
                    **({"reason": entry.reason} if entry.reason else {}),
                },
            )
    except IntegrityError:
        if earlier := recorded_with(idempotency_key, kind=Transaction.Kind.REFUND, refund_of=purchase):
            return RecordedRefund(earlier, _entry_of(earlier), created=False)
        if Transaction.objects.filter(store=store, receipt_number=receipt_number).exists():
            raise _receipt_taken(store, receipt_number) from None
        raise
    return RecordedRefund(refund, entry, created=True)


def remember_till_store(*, user, store: Store) -> None:
    """Remember the store a user's till records at, for their next visit (also after signing out)."""
    TillSettings.objects.update_or_create(user=user, defaults={"store": store, "updated_at": timezone.now()})
