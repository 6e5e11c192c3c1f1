"""The points ledger: posting entries, the monthly roll-up kept with them, and the proof that they agree.

Every entry reaches the ledger through `post_entries` (or, for bulk writers, is folded into the roll-up
by `fold_into_rollup` in the same database transaction as it is written).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Q, QuerySet, Sum

from customers.models import Customer

from ..local_time import month_of
from ..models import (
    CustomerMonthPoints,
    CustomerWindowCount,
    CustomerWindowPoints,
    DetachedLedgerMonth,
    PointsEntry,
    Program,
)
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
    """Add these (new) entries to the roll-up, and the customer-months they change to the monthly report's
    windows (CustomerWindowPoints, with their counts), with INSERT ... SELECT ... ON CONFLICT DO UPDATE.

    The ORM builds the grouped SELECT (so the month is decided by the database in TIME_ZONE); the
    upserts that add to existing rows are written here because the ORM cannot express them. On PostgreSQL
    it is one statement: the batch is grouped once, and a window's creation is told by the upsert itself
    (`xmax = 0` on a row it inserted), so two tills creating the same window never count it twice. SQLite
    runs three statements, in the caller's transaction as always (it serialises writers, so counting the
    windows that do not exist yet before creating them is exact).
    """
    select_sql, params = rollup_rows(entries).query.sql_with_params()
    params = tuple(params)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"WITH batch AS MATERIALIZED ({select_sql}), "  # noqa: S608
                f"rolled AS ({_rollup_upsert('batch')}), "
                f"created AS ({_window_upsert(_window_rows('batch', 'entry_month'))} "
                f"RETURNING start_month, customer_id, xmax = 0 AS created) "
                f"{_count_insert('SELECT start_month, customer_id FROM created WHERE created')}",
                params,
            )
            return
        windows = _window_rows(f"({select_sql})", "entry_month")
        table = _quoted(CustomerWindowPoints)
        cursor.execute(
            _count_insert(
                f"SELECT start_month, customer_id FROM ({windows}) AS new WHERE NOT EXISTS "  # noqa: S608
                f"(SELECT 1 FROM {table} AS old WHERE old.customer_id = new.customer_id "
                f"AND old.start_month = new.start_month)"
            ),
            params,
        )
        cursor.execute(_rollup_upsert(f"({select_sql}) AS batch"), params)
        cursor.execute(_window_upsert(windows), params)


def _quoted(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


# Only identifiers from the models' metadata, the ORM's own SQL and integers are interpolated into the SQL
# below; values are parameters.


def _rollup_upsert(batch: str) -> str:
    """Add the grouped rows of `batch` (a CTE's name or a parenthesised SELECT with an alias) to the roll-up."""
    quote = connection.ops.quote_name
    table = _quoted(CustomerMonthPoints)
    insert_columns = ", ".join(quote(column) for column in ["customer_id", "month", *CustomerMonthPoints.SUMMED])
    updates = ", ".join(f"{quote(c)} = {table}.{quote(c)} + excluded.{quote(c)}" for c in CustomerMonthPoints.SUMMED)
    # SQLite needs a WHERE in an upsert's SELECT to parse it; the grouped SELECT always filters.
    return (
        f"INSERT INTO {table} ({insert_columns}) SELECT * FROM {batch} WHERE 1 = 1 "  # noqa: S608
        f"ON CONFLICT ({quote('customer_id')}, {quote('month')}) DO UPDATE SET {updates}"
    )


WINDOW_SUMMED = ("earned", *CustomerWindowPoints.MONTH_COLUMNS, *CustomerMonthPoints.SPENT)
WINDOW_COLUMNS = ("customer_id", "start_month", *WINDOW_SUMMED)


def _months_before(month: str, offset: str) -> str:
    """SQL for the first day of the month `offset` months before `month` (a first day)."""
    if connection.vendor == "postgresql":
        return f"CAST({month} - {offset} * INTERVAL '1 month' AS date)"
    return f"date({month}, '-' || {offset} || ' months')"


def _window_rows(source: str, month: str) -> str:
    """A SELECT of the CustomerWindowPoints rows that the roll-up rows of `source` (a table, a CTE's name or
    a parenthesised SELECT, with customer_id, `month` and the roll-up's columns) add up to: each
    customer-month counts in the MONTHS windows that contain it, those starting 0, 1, ... MONTHS - 1 months
    earlier, as that window's first, second, ... month."""
    offsets = " UNION ALL ".join(f"SELECT {k} AS k" for k in range(CustomerWindowPoints.MONTHS))
    earned = " + ".join(f"src.{column}" for column in CustomerMonthPoints.EARNED)
    per_month = ", ".join(
        f"SUM(CASE WHEN offsets.k = {k} THEN {earned} ELSE 0 END) AS {column}"
        for k, column in enumerate(CustomerWindowPoints.MONTH_COLUMNS)
    )
    spent = ", ".join(f"SUM(src.{column}) AS {column}" for column in CustomerMonthPoints.SPENT)
    start = _months_before(f"src.{month}", "offsets.k")
    return (
        f"SELECT src.customer_id AS customer_id, {start} AS start_month, SUM({earned}) AS earned, "  # noqa: S608
        f"{per_month}, {spent} FROM {source} AS src CROSS JOIN ({offsets}) AS offsets GROUP BY 1, 2"
    )


def _window_upsert(windows: str) -> str:
    """Add the rows of the SELECT `windows` (as _window_rows gives them) to CustomerWindowPoints.

    In the order of the primary key: a bulk fold (an import, the chain generator) then walks its index from
    left to right instead of visiting millions of its pages at random (at 10 M purchases, with PostgreSQL's
    stock 128 MB of shared buffers, the random order spent most of the fold re-reading index pages)."""
    quote = connection.ops.quote_name
    table = _quoted(CustomerWindowPoints)
    updates = ", ".join(f"{quote(c)} = {table}.{quote(c)} + excluded.{quote(c)}" for c in WINDOW_SUMMED)
    return (
        f"INSERT INTO {table} ({', '.join(quote(c) for c in WINDOW_COLUMNS)}) "  # noqa: S608
        f"SELECT * FROM ({windows}) AS windows WHERE 1 = 1 ORDER BY customer_id, start_month "
        f"ON CONFLICT ({quote('customer_id')}, {quote('start_month')}) DO UPDATE SET {updates}"
    )


def _count_insert(created: str) -> str:
    """Add the windows of the SELECT `created` (start_month, customer_id: windows just created) to their
    counts, each in its customer's shard."""
    table = _quoted(CustomerWindowCount)
    return (
        f"INSERT INTO {table} (start_month, shard, customers) "  # noqa: S608
        f"SELECT start_month, customer_id %% {CustomerWindowCount.SHARDS}, COUNT(*) FROM ({created}) AS created "
        f"WHERE 1 = 1 GROUP BY 1, 2 "
        f"ON CONFLICT (start_month, shard) DO UPDATE SET customers = {table}.customers + excluded.customers"
    )


def _counts_of(windows: str) -> str:
    """A SELECT of the counts (start_month, shard, customers) of the windows in the table or SELECT `windows`."""
    return (
        f"SELECT start_month, customer_id %% {CustomerWindowCount.SHARDS} AS shard, COUNT(*) AS customers "  # noqa: S608
        f"FROM {windows} AS windows GROUP BY 1, 2"
    )


def rebuild_windows() -> int:
    """Rebuild the monthly report's windows and their counts from the roll-up, atomically. Returns the number
    of windows. (The roll-up keeps detached months too, so nothing is lost.)"""
    windows, counts = _quoted(CustomerWindowPoints), _quoted(CustomerWindowCount)
    quote = connection.ops.quote_name
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # No fold may slip in between the delete and the rebuild.
            cursor.execute(f"LOCK TABLE {_quoted(CustomerMonthPoints)} IN SHARE MODE")
        # Parameters always given (none), so that `%%` is read as `%` on both engines.
        cursor.execute(f"DELETE FROM {counts}", ())  # noqa: S608
        cursor.execute(f"DELETE FROM {windows}", ())  # noqa: S608
        cursor.execute(
            f"INSERT INTO {windows} ({', '.join(quote(c) for c in WINDOW_COLUMNS)}) "
            f"{_window_rows(_quoted(CustomerMonthPoints), 'month')}",
            (),
        )
        cursor.execute(f"INSERT INTO {counts} (start_month, shard, customers) {_counts_of(windows)}", ())
        cursor.execute(f"SELECT COUNT(*) FROM {windows}", ())  # noqa: S608
        return cursor.fetchone()[0]


@dataclass(frozen=True)
class WindowDifference:
    """A window (or, with `shard`, a window count) that differs from what the roll-up implies; None on the
    side that has no row."""

    start_month: dt.date
    customer_id: int | None
    shard: int | None
    expected: dict[str, int] | None
    found: dict[str, int] | None


def window_differences() -> list[WindowDifference]:
    """Every window whose row differs from the roll-up's months grouped the same way, then every count that
    differs from the windows counted per shard, found in SQL (FULL OUTER JOINs)."""
    windows, counts = _quoted(CustomerWindowPoints), _quoted(CustomerWindowCount)
    expected = f"({_window_rows(_quoted(CustomerMonthPoints), 'month')})"
    by_customer = [("customer_id", "customer_id"), ("start_month", "start_month")]
    by_shard = [("shard", "shard"), ("start_month", "start_month")]
    return [
        WindowDifference(start, customer_id, None, want, found)
        for customer_id, start, want, found in compare(expected, windows, by_customer, WINDOW_SUMMED)
    ] + [
        WindowDifference(start, None, shard, want, found)
        for shard, start, want, found in compare(f"({_counts_of(windows)})", counts, by_shard, ("customers",))
    ]


def compare(
    expected: str, found: str, keys: Sequence[tuple[str, str]], values: Sequence[str], params: Sequence = ()
) -> list[tuple[Any, dt.date, dict[str, int] | None, dict[str, int] | None]]:
    """The rows where the SQL `expected` and `found` (tables, or parenthesised SELECTs) differ, in one FULL
    OUTER JOIN on the two `keys` (each a pair: its column in `expected`, in `found`; the second a month):
    (first key, month, the expected values or None without a row, the found values or None), ordered by
    the keys."""
    quote = connection.ops.quote_name
    (want_id, found_id), (want_month, found_month) = keys
    on = " AND ".join(f"expected.{quote(a)} = found.{quote(b)}" for a, b in keys)
    columns = [quote(column) for column in values]
    differs = " OR ".join(f"expected.{c} <> found.{c}" for c in columns)
    # Only identifiers from the models' metadata and the ORM's own SQL are interpolated; values are parameters.
    sql = (
        f"SELECT COALESCE(expected.{want_id}, found.{found_id}), "  # noqa: S608
        f"COALESCE(expected.{want_month}, found.{found_month}), "
        f"expected.{want_id} IS NOT NULL, found.{found_id} IS NOT NULL, "
        f"{', '.join(f'expected.{c}' for c in columns)}, {', '.join(f'found.{c}' for c in columns)} "
        f"FROM {expected} AS expected FULL OUTER JOIN {found} AS found ON {on} "
        f"WHERE expected.{want_id} IS NULL OR found.{found_id} IS NULL OR {differs} ORDER BY 1, 2"
    )
    width = len(columns)
    with connection.cursor() as cursor:
        cursor.execute(sql, tuple(params))  # parameters always given, so that `%%` reads `%` on both engines
        return [
            (
                identity,
                _as_date(month),
                dict(zip(values, figures[:width], strict=True)) if in_expected else None,
                dict(zip(values, figures[width:], strict=True)) if in_found else None,
            )
            for identity, month, in_expected, in_found, *figures in cursor.fetchall()
        ]


def _as_date(month) -> dt.date:
    if isinstance(month, str):  # SQLite hands dates back as text
        return dt.date.fromisoformat(month[:10])
    if isinstance(month, dt.datetime):
        return month.date()
    return month


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
    # Months detached from the ledger keep their sums in the roll-up only: left out of the comparison.
    table = attached_months_of(CustomerMonthPoints._meta.db_table)
    keys = [("customer_id", "customer_id"), ("entry_month", "month")]
    return [
        RollupDifference(customer_id, month, ledger, rollup)
        for customer_id, month, ledger, rollup in compare(
            f"({ledger_sql})", table, keys, CustomerMonthPoints.SUMMED, params
        )
    ]


def rebuild_rollup() -> int:
    """Rebuild the whole roll-up from the ledger, atomically. Returns the number of roll-up rows."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # No ledger write may slip in between the delete and the rebuild.
            with connection.cursor() as cursor:
                cursor.execute(f"LOCK TABLE {connection.ops.quote_name(PointsEntry._meta.db_table)} IN SHARE MODE")
        CustomerMonthPoints.objects.exclude(month__in=DetachedLedgerMonth.objects.values("month")).delete()
        select_sql, params = rollup_rows(attached_entries()).query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(_rollup_upsert(f"({select_sql}) AS batch"), params)
        # The windows follow from the whole roll-up, detached months included.
        rebuild_windows()
        return CustomerMonthPoints.objects.count()
