"""The points ledger: posting entries, the monthly roll-up kept with them, and the proof that they agree.

Every entry reaches the ledger through `post_entries` (or, for bulk writers, is folded into the roll-up
by `fold_into_rollup` in the same database transaction as it is written).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Count, Q, QuerySet, Sum

from customers.models import Customer

from ..local_time import month_of
from ..models import CustomerMonthPoints, DetachedLedgerMonth, PointsEntry, Program
from ..selectors import customer_balance
from .books import guard_entries
from .liability import attached_entries, attached_months_of, fold_into_liability


def post_entries(entries: Sequence[PointsEntry]) -> list[PointsEntry]:
    """Append entries to the ledger and fold them into the monthly roll-up and the liability roll-up, in one
    database transaction. Refused (ValidationError) when an entry is dated in a closed month."""
    if not entries:
        return []
    with transaction.atomic():
        guard_entries(entries)
        created = PointsEntry.objects.bulk_create(entries)
        written = PointsEntry.objects.filter(pk__in=[entry.pk for entry in created])
        fold_into_rollup(written)
        fold_into_liability(written)
    return created


def lock_customer(customer_id: int) -> None:
    """Serialise the writes that count or spend a customer's history (stamp visits, first purchase, balance):
    SELECT ... FOR UPDATE on PostgreSQL; SQLite serialises writers anyway."""
    list(Customer.objects.select_for_update().filter(pk=customer_id).values_list("pk", flat=True))


def balance_to_take_from(customer_id: int, program: Program) -> int | None:
    """The negative-balance policy, in one place: None when the program allows a negative balance (anything
    may be taken); otherwise the customer's balance, which nothing may take below zero. The customer's row
    is locked first, so that another till cannot spend the same points meanwhile."""
    if program.negative_balance_policy == Program.NegativeBalance.ALLOW:
        return None
    lock_customer(customer_id)
    return customer_balance(customer_id)


# --- the monthly roll-up ---------------------------------------------------------------------------


def rollup_rows(entries: QuerySet[PointsEntry]) -> QuerySet:
    """Ledger entries summed per customer and month (months decided in SQL), one column per kind."""
    columns = CustomerMonthPoints.COLUMNS
    sums = {column: Sum("points", filter=Q(kind=kind), default=0) for kind, column in columns.items()}
    return (
        entries.order_by()
        .annotate(entry_month=month_of("effective_at"))
        .values("customer_id", "entry_month")
        .annotate(**sums, entries=Count("id"))
    )


def fold_into_rollup(entries: QuerySet[PointsEntry]) -> None:
    """Add these (new) entries to the roll-up with one INSERT ... SELECT ... ON CONFLICT DO UPDATE.

    The ORM builds the grouped SELECT (so the month is decided by the database in TIME_ZONE); the
    upsert that adds to existing rows is written here because the ORM cannot express it. Both
    SQLite and PostgreSQL accept this statement.
    """
    select_sql, params = rollup_rows(entries).query.sql_with_params()
    quote = connection.ops.quote_name
    table = quote(CustomerMonthPoints._meta.db_table)
    insert_columns = ", ".join(quote(column) for column in ["customer_id", "month", *CustomerMonthPoints.SUMMED])
    updates = ", ".join(f"{quote(c)} = {table}.{quote(c)} + excluded.{quote(c)}" for c in CustomerMonthPoints.SUMMED)
    # SQLite needs a WHERE in an upsert's SELECT to parse it; the grouped SELECT always filters.
    # Only identifiers from the model's metadata and the ORM's own SQL are interpolated; values are parameters.
    sql = (
        f"INSERT INTO {table} ({insert_columns}) SELECT * FROM ({select_sql}) AS batch WHERE 1 = 1 "  # noqa: S608
        f"ON CONFLICT ({quote('customer_id')}, {quote('month')}) DO UPDATE SET {updates}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


@dataclass(frozen=True)
class RollupDifference:
    """A customer-month where the roll-up and the ledger disagree; None on the side that has no row."""

    customer_id: int
    month: dt.date
    ledger: dict[str, int] | None
    rollup: dict[str, int] | None


def rollup_differences() -> list[RollupDifference]:
    """Every customer-month where the roll-up differs from the ledger grouped the same way, found in SQL
    (one FULL OUTER JOIN of the grouped ledger and the roll-up table)."""
    ledger_sql, params = rollup_rows(attached_entries()).query.sql_with_params()
    quote = connection.ops.quote_name
    # Months detached from the ledger keep their sums in the roll-up only: left out of the comparison.
    table = attached_months_of(CustomerMonthPoints._meta.db_table)
    names = CustomerMonthPoints.SUMMED
    columns = [quote(column) for column in names]
    differs = " OR ".join(f"ledger.{c} <> rollup.{c}" for c in columns)
    # Only identifiers from the model's metadata and the ORM's own SQL are interpolated; values are parameters.
    sql = (
        f"SELECT COALESCE(ledger.customer_id, rollup.customer_id), COALESCE(ledger.entry_month, rollup.month), "  # noqa: S608
        f"ledger.customer_id IS NOT NULL, rollup.customer_id IS NOT NULL, "
        f"{', '.join(f'ledger.{c}' for c in columns)}, {', '.join(f'rollup.{c}' for c in columns)} "
        f"FROM ({ledger_sql}) AS ledger FULL OUTER JOIN {table} AS rollup "
        f"ON rollup.customer_id = ledger.customer_id AND rollup.month = ledger.entry_month "
        f"WHERE ledger.customer_id IS NULL OR rollup.customer_id IS NULL OR {differs} "
        f"ORDER BY 1, 2"
    )
    width = len(columns)
    differences = []
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for customer_id, month, in_ledger, in_rollup, *values in cursor.fetchall():
            if isinstance(month, str):  # SQLite hands dates back as text
                month = dt.date.fromisoformat(month[:10])
            elif isinstance(month, dt.datetime):
                month = month.date()
            ledger = dict(zip(names, values[:width], strict=True)) if in_ledger else None
            rollup = dict(zip(names, values[width:], strict=True)) if in_rollup else None
            differences.append(RollupDifference(customer_id, month, ledger, rollup))
    return differences


def rebuild_rollup() -> int:
    """Rebuild the whole roll-up from the ledger, atomically. Returns the number of roll-up rows."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # No ledger write may slip in between the delete and the rebuild.
            with connection.cursor() as cursor:
                cursor.execute(f"LOCK TABLE {connection.ops.quote_name(PointsEntry._meta.db_table)} IN SHARE MODE")
        CustomerMonthPoints.objects.exclude(month__in=DetachedLedgerMonth.objects.values("month")).delete()
        fold_into_rollup(attached_entries())
        return CustomerMonthPoints.objects.count()
