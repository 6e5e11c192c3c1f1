"""Reads for customers: how staff find them, and the managers' list of members."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from django.db.models import DecimalField, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce, Lower
from django.utils import timezone

from rewards.calendar import add_months
from rewards.local_time import local_midnight
from rewards.models import CustomerMonthPoints
from transactions.models import Transaction

from .models import Customer
from .phones import FEWEST_DIGITS, stored_forms


def find_customers(text: str, *, limit: int = 20) -> list[Customer]:
    """Customers matching what staff typed: a member number, a phone (in any form: "(212) 555-0123" finds
    +12125550123), an email, or part of a name. Each match carries `last_visit` (their latest purchase or
    refund, or None), for telling several matches apart.

    An exact member number, phone or email wins outright; otherwise names and partial member numbers,
    phones and emails are searched.
    """
    text = (text or "").strip()
    if not text:
        return []
    phones = stored_forms(text)
    # Lowered on both sides, so that customer_number_lower_idx and customer_email_lower_idx serve it (Django's
    # iexact compares UPPER(...) on PostgreSQL, which no index serves: every member would be read at the till).
    exact_query = Q(number_lower=text.lower()) | Q(email_lower=text.lower())
    if phones:
        exact_query |= Q(phone__in=phones)
    lowered = Customer.objects.alias(number_lower=Lower("member_number"), email_lower=Lower("email"))
    exact = list(with_last_visit(lowered.filter(exact_query)).order_by("name", "member_number")[:limit])
    if exact:
        return exact
    # On PostgreSQL each of these is served by a trigram index of the very expression Django compares
    # (customer_name_trgm_idx on UPPER(name), ..., customer_phone_trgm_idx), the OR of them by a BitmapOr; a text of
    # one or two characters holds no trigram and reads every member.
    query = Q(name__icontains=text) | Q(member_number__istartswith=text) | Q(email__icontains=text)
    digits = re.sub(r"\D", "", text)
    if len(digits) >= FEWEST_DIGITS:
        query |= Q(phone__contains=digits)
    return list(search_customers(query)[:limit])


def with_member_number(number: str) -> QuerySet[Customer]:
    """The member with this number, whatever its case (customer_number_lower_idx)."""
    return Customer.objects.alias(number_lower=Lower("member_number")).filter(number_lower=number.lower())


def with_last_visit(customers: QuerySet[Customer]) -> QuerySet[Customer]:
    """Annotate each customer with the moment of their latest transaction (txn_customer_recent_idx)."""
    latest = Transaction.objects.filter(customer=OuterRef("pk")).order_by("-occurred_at").values("occurred_at")[:1]
    return customers.select_related("home_store").annotate(last_visit=Subquery(latest))


def search_customers(query: Q) -> QuerySet[Customer]:
    return with_last_visit(Customer.objects.filter(query)).order_by("name", "member_number")


# ---------------------------------------------------------------------------------------------------
# The managers' list of customers.

RECENT_MONTHS = 12


def customer_list(*, today: dt.date | None = None) -> QuerySet[Customer]:
    """Every member with what a manager sorts and filters them by, each a correlated subquery so that the
    database sorts and pages the list (one query for a page, one to count):

    - `balance`: the sum of the roll-up's points columns (equals the ledger's; customermonthpoints_unique);
    - `tier_name`, `tier_rank`: the tier held now (none: null);
    - `last_visit`: the latest purchase or refund (txn_customer_recent_idx);
    - `spend_12m`: purchases less refunds in the last 12 calendar months, this one included;
    - `points_12m`: points purchases earned less refunds' reversals in those months (the roll-up).
    """
    today = today or timezone.localdate()
    first_month = add_months(today.replace(day=1), -(RECENT_MONTHS - 1))
    rollup = CustomerMonthPoints.objects.filter(customer=OuterRef("pk")).order_by().values("customer")
    balance = rollup.annotate(total=Sum(CustomerMonthPoints.sum_of(CustomerMonthPoints.POINT_COLUMNS))).values("total")
    recent_points = (
        rollup.filter(month__gte=first_month)
        .annotate(total=Sum(CustomerMonthPoints.sum_of(CustomerMonthPoints.EARNED)))
        .values("total")
    )
    money = DecimalField(max_digits=14, decimal_places=2)
    recent = Transaction.objects.filter(customer=OuterRef("pk"), occurred_at__gte=local_midnight(first_month))
    spent = (
        recent.order_by()
        .values("customer")
        .annotate(
            total=Coalesce(Sum("amount", filter=Q(kind=Transaction.Kind.PURCHASE)), Value(0), output_field=money)
            - Coalesce(Sum("amount", filter=Q(kind=Transaction.Kind.REFUND)), Value(0), output_field=money)
        )
        .values("total")
    )
    latest = Transaction.objects.filter(customer=OuterRef("pk")).order_by("-occurred_at").values("occurred_at")[:1]
    return Customer.objects.annotate(
        balance=Coalesce(Subquery(balance, output_field=IntegerField()), 0),
        tier_name=F("tier_status__tier__name"),
        tier_rank=F("tier_status__tier__rank"),
        last_visit=Subquery(latest),
        spend_12m=Coalesce(Subquery(spent, output_field=money), Value(Decimal("0.00")), output_field=money),
        points_12m=Coalesce(Subquery(recent_points, output_field=IntegerField()), 0),
    )
