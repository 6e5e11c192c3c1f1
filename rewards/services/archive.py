"""Detaching a closed month's partition from the ledger, and archiving it with pg_dump (PostgreSQL only;
rewards.partitions says how the ledger is partitioned)."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction

from ops.backups import BackupError, dump

from ..models import DetachedLedgerMonth
from ..partitions import LEDGER, REFERENCES, PartitionRefused, is_partitioned, month_bounds, partition_name, partitions
from .books import closed_books, month_name


@dataclass(frozen=True)
class Detached:
    month: dt.date
    table: str
    entries: int
    points: int
    archive: Path | None


def _fetch(sql: str, params: Iterable | None = None) -> tuple:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def detach_refusals(month: dt.date) -> list[str]:
    """Why `month`'s partition cannot leave the ledger now (empty: it can). The books must be closed through
    it, and nothing still in the ledger, nor any redemption or adjustment request, may refer to its entries.

    And because members' balances, stamp cards, expiry lots and once-only checks are sums and counts over
    their whole ledger, no member's live figures may depend on the month: every member with entries in it
    must have none in any other month, and the month's entries must net to zero for them, with no stamp
    and no once-only key among them. (Carrying a detached month's sums into those figures is not built:
    README, "Partitioned ledger".)"""
    name = partition_name(month)
    found = []
    if not closed_books().month_closed(month):
        found.append(f"{month_name(month)} is open: only a month closed in the books can be detached.")
    current = {p.name: p for p in partitions()}
    if name not in current:
        found.append(f"{month_name(month)} has no partition of its own in the ledger.")
        return found
    lower, upper = month_bounds(month)
    bound = current[name].bound
    if lower not in bound or upper not in bound:
        found.append(f"{name}'s bounds ({bound}) are not {month_name(month)} in {settings.TIME_ZONE}.")
        return found
    ids = f"SELECT id FROM {name}"  # noqa: S608
    (outside,) = _fetch(
        f"SELECT count(*) FROM {LEDGER} WHERE corrects_id IN ({ids}) AND tableoid <> %s::regclass",  # noqa: S608
        [name],
    )
    if outside:
        found.append(f"{outside} entries of other months correct entries of {month_name(month)}.")
    for table, column in REFERENCES[1:]:
        (count,) = _fetch(f"SELECT count(*) FROM {table} WHERE {column} IN ({ids})")  # noqa: S608
        if count:
            found.append(f"{count} rows of {table} refer to entries of {month_name(month)} ({column}).")
    members = f"SELECT DISTINCT customer_id FROM {name}"  # noqa: S608
    (elsewhere,) = _fetch(
        f"SELECT count(DISTINCT customer_id) FROM {LEDGER} WHERE customer_id IN ({members}) "  # noqa: S608
        "AND tableoid <> %s::regclass",
        [name],
    )
    if elsewhere:
        found.append(f"{elsewhere} members with entries in {month_name(month)} have entries in other months.")
    (counted,) = _fetch(
        f"SELECT count(*) FROM (SELECT customer_id FROM {name} GROUP BY customer_id "  # noqa: S608
        "HAVING sum(points) <> 0 OR bool_or(stamped) OR bool_or(bonus_key <> '')) AS live"
    )
    if counted:
        found.append(
            f"{counted} members' balances, stamp cards or once-only bonuses count entries of {month_name(month)}."
        )
    return found


def detach_month(month: dt.date, *, archive_dir: Path | None = None) -> Detached:
    """Detach `month`'s partition from the ledger (refused, changing nothing, if detach_refusals finds
    anything); with `archive_dir`, dump it there with pg_dump (custom format) and drop it once the dump is
    complete. The monthly and liability roll-ups keep the month's sums: every month's reports stay as they were."""
    if not is_partitioned():
        raise PartitionRefused("The ledger is a plain table on this database (SQLite): there are no months to detach.")
    if archive_dir is not None and connection.in_atomic_block:
        # pg_dump, another session, could not see the detached table before this transaction commits.
        raise PartitionRefused("Archiving runs outside a database transaction (pg_dump must see the detached month).")
    if archive_dir is not None and not shutil.which("pg_dump"):
        raise PartitionRefused(
            "pg_dump is not installed: install PostgreSQL's client tools, or detach without --archive."
        )
    name = partition_name(month)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {LEDGER} IN ACCESS EXCLUSIVE MODE")
        refusals = detach_refusals(month)
        if refusals:
            raise PartitionRefused(" ".join(refusals))
        entries, points = _fetch(f"SELECT count(*), COALESCE(sum(points), 0) FROM {name}")  # noqa: S608
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {LEDGER} DETACH PARTITION {name}")
        record = DetachedLedgerMonth.objects.create(month=month, entries=entries, points=points)
    archive = None
    if archive_dir is not None:
        archive = Path(archive_dir).resolve() / f"{name}.dump"
        archive.parent.mkdir(parents=True, exist_ok=True)
        try:
            dump(archive, [f"--table={name}"])
        except BackupError as error:
            raise PartitionRefused(f"{error}; {name} is detached and kept: dump it by hand, then drop it.") from error
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(f"DROP TABLE {name}")
            record.archive = str(archive)
            record.save(update_fields=["archive"])
    return Detached(month=month, table=name, entries=entries, points=points, archive=archive)
