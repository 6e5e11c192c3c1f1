"""Expiry: the policy history, and the daily run that posts what lapsed."""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction
from django.utils import timezone

import audit
from customers.models import Customer
from events import payloads
from events.models import EventType
from events.services import publish

from .. import engine
from ..calendar import add_months
from ..local_time import current_month, local_midnight
from ..models import CustomerMonthPoints, ExpiryPolicy, PointsEntry, Program
from ..selectors import ROLLUP_FIELDS, ExpiryTimeline, customer_balance, expiry_key, lot_of_key, months_of_points
from .books import share_books
from .ledger import lock_customer, post_entries

CUSTOMERS_PER_PAGE = 2000


class PolicyRefused(ValueError):
    """A policy change that would start in the past or in the current month."""


def set_expiry_policy(
    *, program: Program, kind: str, months: int = 0, changed_by, effective_month: dt.date | None = None
) -> ExpiryPolicy:
    """Record the expiry rule from the start of a future month (next month by default). Points earned
    before then keep the rule of their month; a change scheduled for the same month is replaced."""
    first_allowed = add_months(current_month(), 1)
    effective_month = effective_month or first_allowed
    if effective_month.day != 1:
        raise PolicyRefused("A policy starts on the first day of a month.")
    if effective_month < first_allowed:
        raise PolicyRefused("A policy change starts next month at the earliest: this month's points keep their rule.")
    policy, _ = ExpiryPolicy.objects.update_or_create(
        program=program,
        effective_month=effective_month,
        defaults={
            "kind": kind,
            "months": 0 if kind == ExpiryPolicy.Kind.NEVER else months,
            "changed_by": changed_by,
            "changed_at": timezone.now(),
        },
    )
    audit.record(
        audit.Event.POLICY_CHANGED,
        actor=changed_by,
        target=program,
        changes={f"expiry from {effective_month:%Y-%m}": (None, policy.engine_rule().describe())},
    )
    return policy


def expire_points(*, day: dt.date | None = None, program: Program | None = None) -> int:
    """Post an expiry entry for every lot (a customer's points of one month) that has lapsed by `day` (a
    local date, today by default) and was not expired yet. Returns the number of entries posted.

    Safe to run twice, also at once: each lot's entry carries the key "expiry:YYYY-MM", unique per
    customer. Run late, it catches up exactly: a lot lapses at its due month's start, computed from the
    months before it, and the entry is dated then. Points spent since the due moment (before the late
    run) cannot be taken twice, so an expiry is capped at the customer's balance and never makes it negative.
    """
    day = day or timezone.localdate()
    timeline = ExpiryTimeline(program)
    if not timeline.ever_expires:
        return 0
    until = day.replace(day=1)
    posted = 0
    # The roll-up read by customer (its unique (customer, month) index serves it).
    rows = CustomerMonthPoints.objects.order_by("customer_id", "month").values(*ROLLUP_FIELDS)
    keys: dict[int, set] = {}
    for customer_id, key in (
        PointsEntry.objects.filter(kind=PointsEntry.Kind.EXPIRY)
        .exclude(bonus_key="")
        .values_list("customer_id", "bonus_key")
    ):
        keys.setdefault(customer_id, set()).add(lot_of_key(key))

    def settle(customer_id: int, months: list) -> int:
        found = engine.lapses(
            months_of_points(months), timeline.rule_of, expired=dict.fromkeys(keys.get(customer_id, ()), 1), until=until
        )
        if not found:
            return 0
        with transaction.atomic():
            # An expiry never takes a balance below zero, whatever the negative-balance policy (that policy is
            # about refunds of spent points): lapsed points that were spent since are gone already.
            lock_customer(customer_id)
            books = share_books()
            balance = customer_balance(customer_id)
            entries = []
            for lapse in found:
                points = min(lapse.points, max(balance, 0))
                balance -= points
                entries.append(
                    PointsEntry(
                        customer_id=customer_id,
                        kind=PointsEntry.Kind.EXPIRY,
                        points=-points,
                        # When the points lapsed; a late run for a closed month posts in the first open one.
                        effective_at=books.open_moment(local_midnight(lapse.due)),
                        reason=f"points earned in {lapse.lot:%Y-%m} expired: {lapse.rule.describe()}"[:200],
                        note=f"{lapse.points} left of {lapse.lot:%Y-%m} at {lapse.due:%Y-%m-%d}"
                        + (f", {points} still in the balance" if points != lapse.points else ""),
                        bonus_key=expiry_key(lapse.lot),
                        facts={"lot": lapse.lot.isoformat(), "due": lapse.due.isoformat(), "left": lapse.points},
                    )
                )
            try:
                with transaction.atomic():
                    post_entries(entries)
                    if lapsed := [entry for entry in entries if entry.points]:
                        member_number = Customer.objects.values_list("member_number", flat=True).get(pk=customer_id)
                        publish(
                            EventType.POINTS_EXPIRED,
                            payloads.points_expired(member_number=member_number, entries=lapsed),
                        )
            except IntegrityError:
                return 0  # a concurrent run posted them first
        return len(entries)

    # Customers in pages of ids, so no cursor stays open while entries are written.
    last = 0
    while True:
        page = list(
            CustomerMonthPoints.objects.filter(customer_id__gt=last)
            .order_by("customer_id")
            .values_list("customer_id", flat=True)
            .distinct()[:CUSTOMERS_PER_PAGE]
        )
        if not page:
            break
        last = page[-1]
        by_customer: dict[int, list] = {}
        for row in rows.filter(customer_id__in=page):
            by_customer.setdefault(row["customer_id"], []).append(row)
        for customer_id, months in by_customer.items():
            posted += settle(customer_id, months)
    return posted
