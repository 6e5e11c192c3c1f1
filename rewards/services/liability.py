"""The liability roll-up (rewards.StoreMonthPoints): ledger sums per month, store, kind and point value, kept
with the ledger in the same database transaction, and the proof that the two agree.

`post_entries` folds every entry it writes into it. A bulk writer (the importer) must do the same for what it
writes, in the same database transaction: take the books (`rewards.services.books.share_books`) before its
first write, then call `fold_into_liability(queryset of the entries it wrote)` once, beside its
`fold_into_rollup` (one INSERT ... SELECT ... ON CONFLICT, set-based: a million entries fold in one statement).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Case, Count, F, IntegerField, QuerySet, Sum, Value, When
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce

from ..local_time import month_of
from ..models import LedgerKind, PointsEntry, PointValue, StoreMonthPoints
from ..selectors import point_value_versions

KEY = ("month", "store_key", "kind", "point_value_id")


def store_of_entry() -> Coalesce:
    """SQL for an entry's store (see StoreMonthPoints): its transaction's; else, for a redemption, the store it
    was redeemed at (kept in its facts), and for an undoing, the store of the redemption it corrects; else 0.
    Read from the entry's own row and its transaction's, never from a row written after it (the Redemption)."""
    redemption = LedgerKind.REDEMPTION
    return Coalesce(
        F("transaction__store_id"),
        Case(
            When(kind=redemption, corrects__isnull=True, then=Cast(KT("facts__store"), IntegerField())),
            When(kind=redemption, then=Cast(KT("corrects__facts__store"), IntegerField())),
            default=None,
            output_field=IntegerField(),
        ),
        Value(StoreMonthPoints.NO_STORE),
        output_field=IntegerField(),
    )


def value_version_of(versions: Sequence[PointValue]) -> Case | Value:
    """SQL for the point value version in force at an entry's moment: the latest that started at or before
    it (the first version for anything earlier)."""
    ordered = sorted(versions, key=lambda version: version.effective_from)
    if not ordered:
        raise LookupError("the program has no point value: migrate, or set one on the point value page")
    if len(ordered) == 1:
        return Value(ordered[0].pk, output_field=IntegerField())
    return Case(
        *[When(effective_at__gte=version.effective_from, then=Value(version.pk)) for version in reversed(ordered[1:])],
        default=Value(ordered[0].pk),
        output_field=IntegerField(),
    )


def liability_rows(entries: QuerySet[PointsEntry], versions: Sequence[PointValue]) -> QuerySet:
    """Entries summed per month (decided in SQL, in TIME_ZONE), store, kind and point value."""
    return (
        entries.order_by()
        .annotate(
            entry_month=month_of("effective_at"), entry_store=store_of_entry(), entry_value=value_version_of(versions)
        )
        .values("entry_month", "entry_store", "kind", "entry_value")
        .annotate(entry_points=Sum("points"), entry_count=Count("id"))
    )


def fold_into_liability(entries: QuerySet[PointsEntry], versions: Sequence[PointValue] | None = None) -> None:
    """Add these (new) entries to the liability roll-up: one INSERT ... SELECT ... ON CONFLICT DO UPDATE, the
    grouped SELECT built by the ORM (as fold_into_rollup does; both SQLite and PostgreSQL accept it)."""
    versions = point_value_versions() if versions is None else versions
    select_sql, params = liability_rows(entries, versions).query.sql_with_params()
    quote = connection.ops.quote_name
    table = quote(StoreMonthPoints._meta.db_table)
    key = ", ".join(quote(column) for column in KEY)
    # Only identifiers from the model's metadata and the ORM's own SQL are interpolated; values are parameters.
    sql = (
        f"INSERT INTO {table} ({key}, {quote('points')}, {quote('entries')}) "  # noqa: S608
        f"SELECT batch.entry_month, batch.entry_store, batch.kind, batch.entry_value, batch.entry_points, "
        f"batch.entry_count FROM ({select_sql}) AS batch WHERE 1 = 1 "
        f"ON CONFLICT ({key}) DO UPDATE SET "
        f"{quote('points')} = {table}.{quote('points')} + excluded.{quote('points')}, "
        f"{quote('entries')} = {table}.{quote('entries')} + excluded.{quote('entries')}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


@dataclass(frozen=True)
class LiabilityDifference:
    """A (month, store, kind, point value) where the roll-up and the ledger disagree; None where one has no row."""

    month: dt.date
    store_key: int
    kind: str
    point_value_id: int
    ledger: tuple[int, int] | None  # points, entries
    rollup: tuple[int, int] | None


def liability_differences() -> list[LiabilityDifference]:
    """Every key where the liability roll-up differs from the ledger grouped the same way (one FULL OUTER JOIN)."""
    ledger_sql, params = liability_rows(PointsEntry.objects.all(), point_value_versions()).query.sql_with_params()
    table = connection.ops.quote_name(StoreMonthPoints._meta.db_table)
    # Only identifiers from the model's metadata and the ORM's own SQL are interpolated; values are parameters.
    sql = (
        "SELECT COALESCE(ledger.entry_month, rollup.month), COALESCE(ledger.entry_store, rollup.store_key), "  # noqa: S608
        "COALESCE(ledger.kind, rollup.kind), COALESCE(ledger.entry_value, rollup.point_value_id), "
        "ledger.entry_points, ledger.entry_count, rollup.points, rollup.entries, "
        "ledger.kind IS NOT NULL, rollup.kind IS NOT NULL "
        f"FROM ({ledger_sql}) AS ledger FULL OUTER JOIN {table} AS rollup "
        "ON rollup.month = ledger.entry_month AND rollup.store_key = ledger.entry_store "
        "AND rollup.kind = ledger.kind AND rollup.point_value_id = ledger.entry_value "
        "WHERE ledger.kind IS NULL OR rollup.kind IS NULL OR ledger.entry_points <> rollup.points "
        "OR ledger.entry_count <> rollup.entries ORDER BY 1, 2, 3, 4"
    )
    found = []
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for month, store, kind, value, points, count, r_points, r_count, in_ledger, in_rollup in cursor.fetchall():
            if isinstance(month, str):  # SQLite hands dates back as text
                month = dt.date.fromisoformat(month[:10])
            elif isinstance(month, dt.datetime):
                month = month.date()
            found.append(
                LiabilityDifference(
                    month=month,
                    store_key=store,
                    kind=kind,
                    point_value_id=value,
                    ledger=(points, count) if in_ledger else None,
                    rollup=(r_points, r_count) if in_rollup else None,
                )
            )
    return found


def rebuild_liability() -> int:
    """Rebuild the whole liability roll-up from the ledger, atomically. Returns its number of rows."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # No ledger write may slip in between the delete and the rebuild.
            with connection.cursor() as cursor:
                cursor.execute(f"LOCK TABLE {connection.ops.quote_name(PointsEntry._meta.db_table)} IN SHARE MODE")
        StoreMonthPoints.objects.all().delete()
        fold_into_liability(PointsEntry.objects.all())
        return StoreMonthPoints.objects.count()
