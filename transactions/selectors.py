"""Reads the till page and a transaction's page need. A fixed number of queries each, aggregated in SQL."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import (
    Case,
    DateField,
    DecimalField,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from rewards.calendar import add_months
from rewards.local_time import current_month, local_midnight, month_of
from rewards.models import DetachedLedgerMonth, PointsEntry
from rewards.selectors import EARNED_KINDS, balance_of
from rewards.services.earning import earn_entry_of, reversal_entry

from .models import Store, TillSettings, Transaction

RECENT_TRANSACTIONS = 10


def till_store_for(user) -> Store:
    """The store the user's till records at: the one remembered for them, else the default store.

    A remembered store that has since been closed (inactive) falls back to the default store.
    """
    remembered = Exists(TillSettings.objects.filter(user_id=user.pk, store=OuterRef("pk")))
    # One query: the remembered store (if still open) sorts before the default store.
    return (
        Store.objects.annotate(remembered=remembered)
        .filter(Q(remembered=True, is_active=True) | Q(is_default=True))
        .order_by("-remembered")
        .first()
    )


def till_stores() -> QuerySet[Store]:
    """The stores a manager may switch the till to."""
    return Store.objects.filter(is_active=True).order_by("name")


@dataclass(frozen=True)
class CustomerPoints:
    balance: int
    this_month: int  # what purchases earned this calendar month less what refunds took back


def customer_points(customer_id: int) -> CustomerPoints:
    """Balance and points earned this month, in one query on the customer's ledger entries.

    Served by the ledger's (customer, -effective_at) index. "This month" is the calendar month in the
    merchant's TIME_ZONE, as in the monthly points report: earn and reversal entries dated in it.
    """
    month = current_month()
    in_month = (
        Q(effective_at__gte=local_midnight(month))
        & Q(effective_at__lt=local_midnight(add_months(month, 1)))
        & Q(kind__in=EARNED_KINDS)
    )
    sums = PointsEntry.objects.filter(customer_id=customer_id).aggregate(
        balance=balance_of(customer_id), this_month=Coalesce(Sum("points", filter=in_month), 0)
    )
    return CustomerPoints(balance=sums["balance"], this_month=sums["this_month"])


def _with_points(transactions: QuerySet[Transaction]) -> QuerySet[Transaction]:
    """Annotate each transaction with the points it moved (its earn or reversal entry), what is left to refund,
    and a refund's reason."""
    points = (
        PointsEntry.objects.filter(transaction=OuterRef("pk"), kind__in=EARNED_KINDS)
        .order_by()
        .values("transaction")
        .annotate(total=Sum("points"))
        .values("total")
    )
    # A refund's reason, as staff gave it, is kept on its reversal entry.
    reason = PointsEntry.objects.filter(transaction=OuterRef("pk"), kind=PointsEntry.Kind.REVERSAL).values("reason")[:1]
    return transactions.annotate(
        points=Coalesce(Subquery(points, output_field=IntegerField()), 0),
        refund_reason=Subquery(reason),
        refundable=Case(
            When(kind=Transaction.Kind.PURCHASE, then=F("amount") - F("refunded_amount")),
            default=Value(Decimal("0.00")),
            output_field=DecimalField(max_digits=12, decimal_places=2),
        ),
    )


def recent_transactions(customer_id: int, *, limit: int = RECENT_TRANSACTIONS) -> list[Transaction]:
    """The customer's latest purchases and refunds, each with its points and (purchases) what is left to refund.

    One query, served by the (customer, -occurred_at) index; the points come from a correlated
    subquery on the ledger's transaction foreign key index.
    """
    queryset = Transaction.objects.filter(customer_id=customer_id).select_related("store", "refund_of")
    return list(_with_points(queryset).order_by("-occurred_at", "-id")[:limit])


def refunds_of(purchase: Transaction) -> list[Transaction]:
    """The refunds of a purchase, oldest first, each with the points it took back."""
    queryset = Transaction.objects.filter(refund_of=purchase).select_related("store", "recorded_by")
    return list(_with_points(queryset).order_by("occurred_at", "id"))


def transaction_for_page(pk: int, *, kind: str | None = None) -> Transaction | None:
    """One transaction (of that kind, if given) with everything its page shows beside it, in one query."""
    queryset = Transaction.objects.filter(pk=pk).select_related("customer", "store", "recorded_by", "refund_of")
    if kind is not None:
        queryset = queryset.filter(kind=kind)
    archived = _with_points(queryset).alias(local_month=month_of("occurred_at"))
    return archived.annotate(archived_month=_archived_month()).first()


def _archived_month() -> Case:
    """The month a purchase's points were archived with: its month (`local_month`, aliased by the caller: the
    month in the merchant's time zone, in SQL) when that month was detached from the ledger and took the
    purchase's earn entry with it (an earn entry something referred to was kept, and shows as before); None
    otherwise. Its points are carried in the member's balance (rewards.models.CarriedPoints)."""
    earned = PointsEntry.objects.filter(transaction=OuterRef("pk"), kind=PointsEntry.Kind.EARN)
    detached = DetachedLedgerMonth.objects.filter(month=OuterRef("local_month")).values("month")[:1]
    return Case(
        When(Q(kind=Transaction.Kind.PURCHASE) & ~Exists(earned), then=Subquery(detached)),
        default=None,
        output_field=DateField(),
    )


def same_purchase_recently(customer_id: int, *, amount: Decimal, minutes: int) -> Transaction | None:
    """The customer's latest purchase of exactly `amount` recorded within the last `minutes`, if any: the
    till asks before recording the same again (a cashier pressing Record on the last sale twice). One
    query on the customer's transactions (txn_customer_recent_idx)."""
    since = timezone.now() - dt.timedelta(minutes=minutes)
    return (
        Transaction.objects.filter(
            customer_id=customer_id, kind=Transaction.Kind.PURCHASE, amount=amount, recorded_at__gte=since
        )
        .select_related("store")
        .order_by("-recorded_at", "-id")
        .first()
    )


def points_a_refund_takes_back(purchase: Transaction, amount: Decimal) -> dict[str, int]:
    """What refunding `amount` of a purchase would take back, before it is recorded ("Refund all" asks
    first): the reversal by the purchase's own rule, context and tier (rewards.services.earning), capped as
    the program's negative-balance policy caps it, and the balance it would leave. Nothing is written."""
    earned = earn_entry_of(purchase)
    stand_in = Transaction(amount=amount, occurred_at=timezone.now(), refund_of=purchase, recorded_by=None)
    entry = reversal_entry(refund=stand_in, purchase=purchase, refunded_before=purchase.refunded_amount, earned=earned)
    balance = customer_points(purchase.customer_id).balance
    taken = entry.points
    if earned.rule_version.program.negative_balance_policy != earned.rule_version.program.NegativeBalance.ALLOW:
        taken = max(taken, -max(balance, 0))
    return {"points": taken, "balance": balance, "balance_after": balance + taken}
