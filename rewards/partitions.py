"""The ledger partitioned by month on PostgreSQL (declarative range partitioning on `effective_at`).

SQLite keeps the plain table: everything here is a no-op there (`is_partitioned` is False).

The design (README, "Partitioned ledger"):

- `rewards_pointsentry` is partitioned by RANGE (effective_at), one partition per calendar month of the
  merchant (bounds are local midnights of the first day in TIME_ZONE, so a partition is exactly a month of
  the books), named `rewards_pointsentry_YYYY_MM`, and a DEFAULT partition as a safety net for a moment no
  month has been made for yet (a purchase back-dated at the till). The daily job makes months ahead and
  splits whatever reached the DEFAULT partition into months of its own; an import makes its rows' months
  before it writes (`ensure_months_apart`). A detached month's entries that something still counts one by one
  stay in `rewards_pointsentry_YYYY_MM_kept`, the month's partition from then on (rewards.services.archive).
- The table's primary key is (id, effective_at): PostgreSQL requires the partition key in every unique
  index. Django keeps `id` as the model's pk; ids come from the table's identity sequence, as before.
- The four once-only guarantees (one earn per purchase, one reversal per refund, a keyed bonus once per
  customer, an expiry once per lot) cannot be partition-local unique indexes without being weakened (a
  reversal's or a bonus's moment is not implied by what it is unique on), so they live on a narrow
  unpartitioned table, `rewards_ledgerclaim`, with the same unique indexes under the same names; a
  statement-level trigger on the ledger writes the statement's claims at its end (so COPY stays batched).
  Rows written into a partition by name bypass it: write through `rewards_pointsentry`. Claims outlive a
  detached month, so once-only stays once-only for ever.
- Foreign keys INTO the ledger (an entry's `corrects`, a redemption's entry and undo entry, an adjustment
  request's entry) cannot reference `id` alone any more; constraint triggers check them instead (the
  referenced entry exists), deferred to the commit as Django's foreign keys are. Entries are never
  deleted (append-only trigger), so the other side of the check is the detach command's: it keeps in the
  ledger every entry of the month that anything still attached refers to.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from django.conf import settings
from django.db import OperationalError, connection, transaction

from .calendar import add_months

LEDGER = "rewards_pointsentry"
CLAIMS = "rewards_ledgerclaim"
DEFAULT = f"{LEDGER}_default"
# Months made ahead of today by the daily job (and by the migration), so the till never writes into DEFAULT.
MONTHS_AHEAD = 3
# How long a caller's months made on a connection of their own (the import's) wait for the ledger's lock before
# giving up: the rows then go to DEFAULT as they always could, and the daily job moves them.
MONTHS_LOCK_TIMEOUT = "5s"
logger = logging.getLogger(__name__)
Result = TypeVar("Result")

# A month's partition, or what the ledger keeps of a detached month (rewards.services.archive): `..._kept`.
KEPT_SUFFIX = "_kept"
_MONTH_NAME = re.compile(rf"^{LEDGER}_([0-9]{{4}})_([0-9]{{2}})(?:{KEPT_SUFFIX})?$")

# The entries that carry a once-only claim (what the unique constraints' conditions select) and the claim's
# columns: the claims trigger of migration 0017 writes these for every statement that inserts into the ledger.
CLAIMED = "kind IN ('earn', 'reversal') OR (kind IN ('bonus', 'expiry') AND bonus_key <> '')"
CLAIM_COLUMNS = ("entry_id", "effective_at", "kind", "transaction_id", "customer_id", "bonus_key")

# The tables (and their columns) that refer to ledger entries by id: checked by constraint triggers.
REFERENCES = (
    (LEDGER, "corrects_id"),
    ("rewards_redemption", "entry_id"),
    ("rewards_redemption", "undo_entry_id"),
    ("rewards_adjustmentrequest", "entry_id"),
)


class PartitionRefused(ValueError):
    """A partition operation that cannot be done safely (an open month, a month something refers to...)."""


@dataclass(frozen=True)
class Partition:
    name: str
    month: dt.date | None  # None for the DEFAULT partition
    bound: str  # PostgreSQL's words for its bounds


def partition_name(month: dt.date) -> str:
    return f"{LEDGER}_{month:%Y_%m}"


def kept_partition_name(month: dt.date) -> str:
    """The partition holding what the ledger keeps of a detached month (rewards.services.archive)."""
    return f"{partition_name(month)}{KEPT_SUFFIX}"


def is_partitioned() -> bool:
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [LEDGER])
        row = cursor.fetchone()
    return bool(row) and row[0] == "p"


def claim_entries(entries: str) -> None:
    """Write the once-only claims of ledger entries that were inserted with the ledger's triggers off (the
    import's bulk path sets session_replication_role = replica for its INSERTs, which silences the claims
    trigger too): a duplicate fails here, at the import, exactly as the trigger would have failed it.
    `entries` names a table with the ledger's columns holding exactly those entries: the import's own copy of
    the rows it wrote, or the ledger itself for a whole load. Nothing to do on a plain ledger (its unique indexes
    were never off)."""
    if not is_partitioned():
        return
    columns = ", ".join(CLAIM_COLUMNS)
    source = ", ".join(("id", *CLAIM_COLUMNS[1:]))
    _execute(f"INSERT INTO {CLAIMS} ({columns}) SELECT {source} FROM {entries} WHERE {CLAIMED}")  # noqa: S608


def partitions() -> list[Partition]:
    """The ledger's partitions, months in order, DEFAULT last."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass",
            [LEDGER],
        )
        rows = cursor.fetchall()
    found = []
    for name, bound in rows:
        match = _MONTH_NAME.match(name)
        month = dt.date(int(match[1]), int(match[2]), 1) if match else None
        found.append(Partition(name=name, month=month, bound=bound))
    return sorted(found, key=lambda p: (p.month is None, p.month or dt.date.min))


def month_bounds(month: dt.date) -> tuple[str, str]:
    """The month's first and next month's first local midnight in TIME_ZONE, as timestamptz literals:
    decided by the database, as reports decide months."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ((%s::date)::timestamp AT TIME ZONE %s)::text, ((%s::date)::timestamp AT TIME ZONE %s)::text",
            [month, settings.TIME_ZONE, add_months(month, 1), settings.TIME_ZONE],
        )
        lower, upper = cursor.fetchone()
    return lower, upper


def months_in(table: str) -> list[dt.date]:
    """The merchant's months that have rows in `table` (a ledger partition or the old plain table)."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT date_trunc('month', effective_at AT TIME ZONE %s)::date FROM {quote(table)}",  # noqa: S608
            [settings.TIME_ZONE],
        )
        return sorted(month for (month,) in cursor.fetchall())


def _execute(sql: str, params: Iterable | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def create_month(month: dt.date) -> None:
    lower, upper = month_bounds(month)
    _execute(f"CREATE TABLE {partition_name(month)} PARTITION OF {LEDGER} FOR VALUES FROM ('{lower}') TO ('{upper}')")


def ensure_months(months: Iterable[dt.date], *, lock_timeout: str | None = None) -> list[dt.date]:
    """Give each month (its first day) a partition of its own; rows of those months already in DEFAULT move
    into it. Returns the months made. Takes the ledger's lock for the DDL: call it in a short transaction of
    its own (the daily job, the ledger_partitions command, `ensure_months_apart`), never inside a till's or an
    import's. With `lock_timeout`, a lock not had in that time raises OperationalError, nothing made."""
    if not is_partitioned():
        return []
    wanted = sorted({month.replace(day=1) for month in months})
    with transaction.atomic():
        if lock_timeout:
            _execute("SELECT set_config('lock_timeout', %s, true)", [lock_timeout])
        _execute(f"LOCK TABLE {LEDGER} IN SHARE ROW EXCLUSIVE MODE")
        existing = {p.month for p in partitions()}
        missing = [month for month in wanted if month not in existing]
        if not missing:
            return []
        in_default = set(months_in(DEFAULT)) & set(missing)
        for month in missing:
            if month not in in_default:
                create_month(month)
        if in_default:
            _split_default(sorted(in_default))
    return missing


def ensure_months_apart(months: Iterable[dt.date]) -> list[dt.date]:
    """`ensure_months` on a connection of its own, committed before this returns: for a caller in the middle of
    a long transaction of its own (the import, before it writes), so that the DDL's lock on the ledger is held
    for the DDL alone, not for the caller's whole transaction. The caller's transaction must hold no lock on the
    ledger yet (it would wait for itself): if the lock is not had within MONTHS_LOCK_TIMEOUT, nothing is made
    and the rows go to DEFAULT as before (the daily job moves them), which is logged."""
    wanted = list(months)
    if not wanted or not is_partitioned():
        return []
    try:
        return _on_own_connection(lambda: ensure_months(wanted, lock_timeout=MONTHS_LOCK_TIMEOUT))
    except OperationalError:
        logger.warning("ledger months %s not made: the ledger's lock was not free", wanted, exc_info=True)
        return []


def _on_own_connection(work: Callable[[], Result]) -> Result:
    """Run `work` on a new database connection (Django's connections are per thread) and close it."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except Exception as error:  # handed back to the caller's thread, raised there
            outcome["error"] = error
        finally:
            connection.close()

    worker = threading.Thread(target=run, name="ledger-months")
    worker.start()
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _split_default(months: list[dt.date]) -> None:
    """Move the rows of `months` out of DEFAULT into partitions of their own. PostgreSQL cannot create a
    partition whose range DEFAULT holds rows of, so DEFAULT is detached (its copies of the ledger's triggers
    go with the detach, so the move is not refused as a DELETE), the rows are moved into new tables that are
    then attached, and DEFAULT is attached again. Claims stay as they are: the entries do not change."""
    _execute(f"LOCK TABLE {LEDGER} IN ACCESS EXCLUSIVE MODE")
    _execute(f"ALTER TABLE {LEDGER} DETACH PARTITION {DEFAULT}")
    for month in months:
        lower, upper = month_bounds(month)
        name = partition_name(month)
        _execute(f"CREATE TABLE {name} (LIKE {LEDGER} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
        where = f"effective_at >= '{lower}' AND effective_at < '{upper}'"
        _execute(f"INSERT INTO {name} SELECT * FROM {DEFAULT} WHERE {where}")  # noqa: S608
        _execute(f"DELETE FROM {DEFAULT} WHERE {where}")  # noqa: S608
        _execute(f"ALTER TABLE {LEDGER} ATTACH PARTITION {name} FOR VALUES FROM ('{lower}') TO ('{upper}')")
    _execute(f"ALTER TABLE {LEDGER} ATTACH PARTITION {DEFAULT} DEFAULT")


def months_ahead(today_month: dt.date) -> list[dt.date]:
    return [add_months(today_month, offset) for offset in range(-1, MONTHS_AHEAD + 1)]


def maintain(today_month: dt.date) -> list[dt.date]:
    """The daily job: months from last month to MONTHS_AHEAD ahead, and every month found in DEFAULT."""
    if not is_partitioned():
        return []
    return ensure_months([*months_ahead(today_month), *months_in(DEFAULT)])
