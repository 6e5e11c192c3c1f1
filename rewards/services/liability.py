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
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Case, Count, F, IntegerField, QuerySet, Sum, Value, When
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce

from .. import accounting
from ..calendar import add_months, months_from
from ..liability import month_closes, movements, reproduction, roll_forward_of, versions
from ..local_time import current_month, local_midnight, month_of
from ..models import CarriedPoints, DetachedLedgerMonth, LedgerKind, PointsEntry, PointValue, StoreMonthPoints
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
            When(kind=redemption, corrects__isnull=True, then=Cast(KeyTextTransform("store", "facts"), IntegerField())),
            When(kind=redemption, then=Cast(KeyTextTransform("store", F("corrects__facts")), IntegerField())),
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


def attached_entries() -> QuerySet[PointsEntry]:
    """The ledger's entries but those of detached months (what a detached month keeps in the ledger is only part of
    it: its roll-up rows keep the whole month, so the checks and repairs leave the month out on both sides)."""
    entries = PointsEntry.objects.all()
    for month in DetachedLedgerMonth.objects.values_list("month", flat=True):
        entries = entries.exclude(
            effective_at__gte=local_midnight(month), effective_at__lt=local_midnight(add_months(month, 1))
        )
    return entries


def attached_months_of(table: str) -> str:
    """A roll-up table's rows but those of months detached from the ledger (rewards.services.archive), as
    SQL to put where the table's name would go (only model metadata is interpolated)."""
    quote = connection.ops.quote_name
    detached = quote(DetachedLedgerMonth._meta.db_table)
    return f"(SELECT * FROM {quote(table)} WHERE {quote('month')} NOT IN (SELECT {quote('month')} FROM {detached}))"  # noqa: S608


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
    ledger_sql, params = liability_rows(attached_entries(), point_value_versions()).query.sql_with_params()
    # Months detached from the ledger keep their sums in the roll-up only: left out of the comparison.
    table = attached_months_of(StoreMonthPoints._meta.db_table)
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
            found.append(
                LiabilityDifference(
                    month=_as_date(month),
                    store_key=store,
                    kind=kind,
                    point_value_id=value,
                    ledger=(points, count) if in_ledger else None,
                    rollup=(r_points, r_count) if in_rollup else None,
                )
            )
    return found


def _as_date(month) -> dt.date:
    """A month as the database hands it back from raw SQL: SQLite as text, some drivers as a datetime."""
    if isinstance(month, str):
        return dt.date.fromisoformat(month[:10])
    if isinstance(month, dt.datetime):
        return month.date()
    return month


def rebuild_liability() -> int:
    """Rebuild the whole liability roll-up from the ledger, atomically. Returns its number of rows."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # No ledger write may slip in between the delete and the rebuild.
            with connection.cursor() as cursor:
                cursor.execute(f"LOCK TABLE {connection.ops.quote_name(PointsEntry._meta.db_table)} IN SHARE MODE")
        StoreMonthPoints.objects.exclude(month__in=DetachedLedgerMonth.objects.values("month")).delete()
        fold_into_liability(attached_entries())
        return StoreMonthPoints.objects.count()


@dataclass(frozen=True)
class MonthProof:
    """One month of the proof: the roll-forward's closing balance against the members' balances."""

    month: dt.date
    closing_points: int  # the roll-forward's, from the liability roll-up
    balances: int  # the sum of every member's balance at the month's end, from the ledger itself
    closing_money: Decimal  # the roll-forward's: opening + movements + revaluation
    money_at_value: Decimal  # closing points x the value a point closes the month at

    @property
    def ok(self) -> bool:
        return self.closing_points == self.balances and self.closing_money == self.money_at_value


@dataclass(frozen=True)
class LiabilityProof:
    differences: list[LiabilityDifference]
    months: list[MonthProof]
    closes: list[tuple[dt.date, list[str]]]  # each closed month and where its figures no longer reproduce

    @property
    def ok(self) -> bool:
        return (
            not self.differences
            and all(month.ok for month in self.months)
            and not any(found for _month, found in self.closes)
        )


def prove_liability() -> LiabilityProof:
    """Prove the liability roll-forward from the ledger, every month from the first to this one:

    - the liability roll-up equals the ledger grouped the same way (by month, store, kind and point value);
    - each month's closing balance (opening + movements, from the roll-up) equals the sum of all members'
      balances at the month's end (their ledger entries dated before the next month began, summed per month
      in one pass over the ledger), and its closing money equals the closing points at the closing value;
    - every closed month's figures reproduce exactly what was kept when it closed.
    """
    differences = liability_differences()
    per_month = {
        _as_date(row["entry_month"]): row["points"]
        for row in PointsEntry.objects.order_by()
        .annotate(entry_month=month_of("effective_at"))
        .values("entry_month")
        .annotate(points=Sum("points"))
    }
    # A detached month's entries that left the ledger count in the balances through what they carry.
    for row in CarriedPoints.objects.order_by().values("month").annotate(points=Sum("points")):
        per_month[row["month"]] = per_month.get(row["month"], 0) + row["points"]
    proofs = []
    if per_month:
        first = min(per_month)
        last = max(max(per_month), current_month())
        span = months_from(first, accounting.months_between(first, last) + 1)
        balances = 0
        for month in roll_forward_of(movements(last), versions(), span):
            balances += per_month.get(month.month, 0)
            proofs.append(
                MonthProof(
                    month=month.month,
                    closing_points=month.closing.points,
                    balances=balances,
                    closing_money=month.closing.money,
                    money_at_value=month.closing_at_value,
                )
            )
    closed = [close for close in month_closes() if close.is_closed]
    found = reproduction(closed)
    closes = [(close.month, found[close.pk]) for close in sorted(closed, key=lambda close: close.month)]
    return LiabilityProof(differences=differences, months=proofs, closes=closes)
