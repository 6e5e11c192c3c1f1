"""Writes to the points ledger. Every entry reaches the ledger through `post_entries`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Count, Q, QuerySet, Sum

from . import engine
from .models import CustomerMonthPoints, PointsEntry, RuleVersion
from .selectors import month_of

# Ledger kind -> roll-up column.
ROLLUP_COLUMNS = {
    PointsEntry.Kind.EARN: "earned",
    PointsEntry.Kind.REVERSAL: "reversed",
    PointsEntry.Kind.BONUS: "bonus",
    PointsEntry.Kind.REDEMPTION: "redeemed",
    PointsEntry.Kind.EXPIRY: "expired",
    PointsEntry.Kind.ADJUSTMENT: "adjusted",
}


def post_entries(entries: Sequence[PointsEntry]) -> list[PointsEntry]:
    """Append entries to the ledger and fold them into the monthly roll-up, in one database transaction."""
    if not entries:
        return []
    with transaction.atomic():
        created = PointsEntry.objects.bulk_create(entries)
        fold_into_rollup(PointsEntry.objects.filter(pk__in=[entry.pk for entry in created]))
    return created


def rollup_rows(entries: QuerySet[PointsEntry]) -> QuerySet:
    """Ledger entries summed per customer and month (months decided in SQL), one column per kind."""
    sums = {column: Sum("points", filter=Q(kind=kind), default=0) for kind, column in ROLLUP_COLUMNS.items()}
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
    value_columns = [*ROLLUP_COLUMNS.values(), "entries"]
    insert_columns = ", ".join(quote(column) for column in ["customer_id", "month", *value_columns])
    updates = ", ".join(f"{quote(c)} = {table}.{quote(c)} + excluded.{quote(c)}" for c in value_columns)
    # SQLite needs a WHERE in an upsert's SELECT to parse it; the grouped SELECT always filters.
    # Only identifiers from the model's metadata and the ORM's own SQL are interpolated; values are parameters.
    sql = (
        f"INSERT INTO {table} ({insert_columns}) SELECT * FROM ({select_sql}) AS batch WHERE 1 = 1 "  # noqa: S608
        f"ON CONFLICT ({quote('customer_id')}, {quote('month')}) DO UPDATE SET {updates}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def earn_entry(
    *, purchase, version: RuleVersion, rule: engine.Rule | None = None
) -> tuple[PointsEntry, engine.Earning]:
    """The (unsaved) earn entry of a purchase under a rule version, and the engine's account of it."""
    earning = engine.earn(purchase.amount, rule or version.engine_rule())
    entry = PointsEntry(
        customer_id=purchase.customer_id,
        kind=PointsEntry.Kind.EARN,
        points=earning.points,
        effective_at=purchase.occurred_at,
        transaction=purchase,
        rule_version=version,
        created_by=purchase.recorded_by,
        explanation=earning.explain(),
        detail=earning.as_dict(),
    )
    return entry, earning


def reversal_entry(*, refund, purchase, refunded_before, earned: PointsEntry) -> PointsEntry:
    """The (unsaved) reversal of a refund, by the rule version its purchase earned with."""
    version = earned.rule_version
    rule = version.engine_rule()
    points = engine.reversal(
        purchase_amount=purchase.amount, refunded_before=refunded_before, refund=refund.amount, rule=rule
    )
    remaining = purchase.amount - refunded_before - refund.amount
    return PointsEntry(
        customer_id=purchase.customer_id,
        kind=PointsEntry.Kind.REVERSAL,
        points=points,
        effective_at=refund.occurred_at,
        transaction=refund,
        rule_version=version,
        created_by=refund.recorded_by,
        corrects=earned,
        explanation=(
            f"refund of {refund.amount:.2f} from {purchase.amount:.2f} (receipt {purchase.receipt_number}); "
            f"{remaining:.2f} left earns {engine.earn(remaining, rule).points} "
            f"under the purchase's rule: {points}"
        ),
        detail={"refund": f"{refund.amount:.2f}", "refunded_before": f"{refunded_before:.2f}", "points": points},
    )


def publish_rule_version(
    *, program, rule: engine.Rule, effective_from, published_by=None, note: str = ""
) -> RuleVersion:
    """Publish a new rule version from `effective_from` (now or later). Earlier versions are never edited."""
    return RuleVersion.objects.create(
        program=program, effective_from=effective_from, rule=rule.to_dict(), note=note, published_by=published_by
    )


# ---------------------------------------------------------------------------------------------------
# Proving the roll-up equals the ledger, and rebuilding it.

ROLLUP_VALUE_COLUMNS = (*ROLLUP_COLUMNS.values(), "entries")


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
    ledger_sql, params = rollup_rows(PointsEntry.objects.all()).query.sql_with_params()
    quote = connection.ops.quote_name
    table = quote(CustomerMonthPoints._meta.db_table)
    columns = [quote(column) for column in ROLLUP_VALUE_COLUMNS]
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
            ledger = dict(zip(ROLLUP_VALUE_COLUMNS, values[:width], strict=True)) if in_ledger else None
            rollup = dict(zip(ROLLUP_VALUE_COLUMNS, values[width:], strict=True)) if in_rollup else None
            differences.append(RollupDifference(customer_id, month, ledger, rollup))
    return differences


def rebuild_rollup() -> int:
    """Rebuild the whole roll-up from the ledger, atomically. Returns the number of roll-up rows."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # No ledger write may slip in between the delete and the rebuild.
            with connection.cursor() as cursor:
                cursor.execute(f"LOCK TABLE {connection.ops.quote_name(PointsEntry._meta.db_table)} IN SHARE MODE")
        CustomerMonthPoints.objects.all().delete()
        fold_into_rollup(PointsEntry.objects.all())
        return CustomerMonthPoints.objects.count()
