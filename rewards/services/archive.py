"""Detaching a closed month's partition from the ledger, and archiving it with pg_dump (PostgreSQL only;
rewards.partitions says how the ledger is partitioned).

A busy month detaches with every live figure exact. Each figure that counts a member's whole history was read
to decide how (README, "Partitioned ledger"):

- read from the monthly roll-up, which keeps the detached month's rows: the monthly report, the glance page,
  points outstanding, tier windows, expiry lots (their amounts), the liability roll-forward (its own roll-up);
- read from the ledger one entry at a time, by key or by reference: once-only bonuses and stamp card bonuses
  (`bonus_key`), expiry lots already expired (`expiry:YYYY-MM` keys), an entry's corrections (a refund's
  reversal of an earn, an undone redemption), redemptions and adjustment requests. Those entries are KEPT: they
  stay in the ledger, unchanged, in a partition of the month's own (`rewards_pointsentry_YYYY_MM_kept`);
- sums over the ledger: a member's balance and their stamp card's visits. What the entries that leave add to
  them is CARRIED (CarriedPoints, per member and month), and those two reads add it in the same query.

History is not rewritten: the kept entries are the same rows (ids and all), the detached partition keeps every
original row (the archive dump), and the roll-ups are untouched. A refund of a purchase whose earn entry left is
refused, saying why (rewards.services.earning.earn_entry_of): the reversal must correct its earn entry.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from ops.backups import BackupError, dump

from ..models import CarriedPoints, DetachedLedgerMonth, PointsEntry
from ..partitions import (
    LEDGER,
    REFERENCES,
    PartitionRefused,
    is_partitioned,
    kept_partition_name,
    month_bounds,
    partition_name,
    partitions,
)
from .books import closed_books, month_name


@dataclass(frozen=True)
class Detached:
    month: dt.date
    table: str
    entries: int
    points: int
    archive: Path | None
    kept: int = 0  # entries kept in the ledger (rewards_pointsentry_YYYY_MM_kept)


def _fetch(sql: str, params: Iterable | None = None) -> tuple:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def detach_refusals(month: dt.date) -> list[str]:
    """Why `month`'s partition cannot leave the ledger now (empty: it can): the books must be closed through it
    (the month's figures are final, nothing more is dated in it), and it must be a month of its own in the
    ledger, not detached before. Nothing else: what members' live figures still count on is kept or carried
    (`detach_month`)."""
    name = partition_name(month)
    found = []
    if earlier := DetachedLedgerMonth.objects.filter(month=month).first():
        found.append(f"{month_name(month)} was detached on {timezone.localdate(earlier.detached_at):%Y-%m-%d}.")
        return found
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


def _keep(name: str) -> int:
    """Mark (temporary table detach_kept) the entries of partition `name` that must stay in the ledger one by one:
    those anything refers to (an entry of another month correcting one, a redemption, an adjustment request),
    those with a once-only key (keyed bonuses, stamp card bonuses, expiry lots: their keys are looked up in the
    ledger), and what a kept entry corrects. Returns how many."""
    ids = f"SELECT id FROM {name}"  # noqa: S608
    referred = [
        f"SELECT corrects_id FROM {LEDGER} WHERE corrects_id IN ({ids}) AND tableoid <> '{name}'::regclass",  # noqa: S608
        *(f"SELECT {column} FROM {table} WHERE {column} IN ({ids})" for table, column in REFERENCES[1:]),  # noqa: S608
    ]
    _run(
        f"CREATE TEMP TABLE detach_kept ON COMMIT DROP AS SELECT id FROM {name} WHERE bonus_key <> '' "  # noqa: S608
        f"UNION {' UNION '.join(referred)}"
    )
    # A kept undo of a redemption corrects the redemption (kept too); a kept reversal its earn.
    _run(
        f"INSERT INTO detach_kept SELECT corrects_id FROM {name} WHERE id IN (SELECT id FROM detach_kept) "  # noqa: S608
        f"AND corrects_id IN ({ids}) AND corrects_id NOT IN (SELECT id FROM detach_kept)"
    )
    (kept,) = _fetch("SELECT count(DISTINCT id) FROM detach_kept")
    return kept


def _run(sql: str, params: Iterable | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def detach_month(month: dt.date, *, archive_dir: Path | None = None) -> Detached:
    """Detach `month`'s partition from the ledger (refused, changing nothing, if detach_refusals finds
    anything), keeping in the ledger the entries something counts one by one and carrying the others' sums into
    their members' figures (module docstring), under the ledger's exclusive lock, in one transaction; with
    `archive_dir`, dump the detached partition there with pg_dump (custom format) and drop it once the dump is
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
        _run(f"LOCK TABLE {LEDGER} IN ACCESS EXCLUSIVE MODE")
        refusals = detach_refusals(month)
        if refusals:
            raise PartitionRefused(" ".join(refusals))
        entries, points = _fetch(f"SELECT count(*), COALESCE(sum(points), 0) FROM {name}")  # noqa: S608
        kept = _keep(name)
        # What the entries that leave add to each member's balance and stamp card.
        _run(
            f"INSERT INTO {CarriedPoints._meta.db_table} (customer_id, month, points, stamps, entries) "  # noqa: S608
            f"SELECT customer_id, %s, sum(points), count(*) FILTER (WHERE kind = %s AND stamped), count(*) "
            f"FROM {name} AS e WHERE NOT EXISTS (SELECT 1 FROM detach_kept k WHERE k.id = e.id) GROUP BY customer_id",
            [month, PointsEntry.Kind.EARN],
        )
        if kept:
            # The kept entries, unchanged (ids and all), in a partition of the month's own, made as the daily job
            # makes a month out of DEFAULT: LIKE the ledger, filled, then attached (indexes and row triggers
            # follow). Their once-only claims stay as they are: the entries do not change.
            kept_name = kept_partition_name(month)
            lower, upper = month_bounds(month)
            _run(f"CREATE TABLE {kept_name} (LIKE {LEDGER} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
            _run(f"INSERT INTO {kept_name} SELECT * FROM {name} WHERE id IN (SELECT id FROM detach_kept)")  # noqa: S608
        _run(f"ALTER TABLE {LEDGER} DETACH PARTITION {name}")
        if kept:
            _run(f"ALTER TABLE {LEDGER} ATTACH PARTITION {kept_name} FOR VALUES FROM ('{lower}') TO ('{upper}')")
        record = DetachedLedgerMonth.objects.create(month=month, entries=entries, points=points, kept=kept)
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
    return Detached(month=month, table=name, entries=entries, points=points, archive=archive, kept=kept)
