"""Importing a whole record of purchases and refunds from a CSV file: exact, all or nothing, streamed.

One pass over the file inside ONE database transaction. Rows are parsed and checked one by one and
written in batches; a bad row anywhere marks the import as failed, the pass goes on so that every bad
row is reported, and the transaction is rolled back at the end: nothing is written. A dry run is the
same pass, always rolled back, so it reports exactly what a real import would do.

Writing as we go (rather than validating first, then writing) is what lets a refund or a repeated
receipt find the purchase it refers to by a look-up in the database, whether that purchase was stored
before or earlier in this file: memory stays flat however long the file is.

Rows are judged by the recording service's own checks (transactions.services: a moment in the future, the
refund rules). Points are the rewards app's: a purchase's earn entry is `rewards.services.earning.earn_fields`
under the rule version in force at its moment (the one `record_purchase` would use; computed once per
distinct amount, context and tier multiplier), a refund's reversal is `rewards.services.earning.reversal_entry`
itself, and a customer it enrols gets the program's enrolment bonus
(`rewards.services.bonuses.enrolment_bonus_entries`). The ledger entries of the whole import are folded into
the monthly roll-up once, at the end, in the same transaction (`rewards.services.ledger.fold_into_rollup`).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, JSONField, Lookup
from django.utils import timezone

from customers.models import Customer
from rewards import engine
from rewards.models import CustomerTier, PointsEntry, RuleVersion
from rewards.selectors import RuleTimeline
from rewards.services.bonuses import enrolment_bonus_entries
from rewards.services.books import share_books
from rewards.services.earning import earn_fields, purchase_context, reversal_entry
from rewards.services.ledger import fold_into_rollup
from rewards.services.liability import fold_into_liability

from .amounts import AmountError, parse_amount
from .models import Store, Transaction
from .services import check_moment, check_refund

REQUIRED_COLUMNS = ("customer_id", "transaction_id", "amount", "occurred_at")
OPTIONAL_COLUMNS = ("customer_name", "store", "kind", "refund_of")
BATCH_SIZE = 5000
# Every bad row is counted; the messages of the first ones are kept (a file of a million bad rows
# must not hold a million messages in memory).
MAX_KEPT_MESSAGES = 10_000
# Customers already looked up are remembered up to this many, then forgotten (memory stays flat).
CUSTOMER_CACHE_LIMIT = 200_000

_MEMBER_NUMBER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")
# Lone surrogates (bytes that were not UTF-8, kept by surrogateescape) and NUL: not text.
_NOT_TEXT = re.compile("[\udc80-\udcff\x00]")
_MAX_MEMBER_NUMBER = Customer._meta.get_field("member_number").max_length
_MAX_NAME = Customer._meta.get_field("name").max_length
_MAX_RECEIPT = Transaction._meta.get_field("receipt_number").max_length
PURCHASE, REFUND = Transaction.Kind.PURCHASE.value, Transaction.Kind.REFUND.value
IMPORT = Transaction.Source.IMPORT.value
EARN, REVERSAL, BONUS = PointsEntry.Kind.EARN.value, PointsEntry.Kind.REVERSAL.value, PointsEntry.Kind.BONUS.value
# The refund rules' refusals (transactions.services.check_refund) as a line of the file says them: the
# purchase by its receipt, the customers by member number. Others say the service's message.
REFUND_WORDING = {
    "exceeds_purchase": "refund of {amount} exceeds what is left of purchase {refund_of} ({left})",
    "other_customer": "refund_of {refund_of} is a purchase of customer {purchase_customer}, not {customer}",
}


class InList(Lookup):
    """`column IN (values)` with ONE parameter however many values: an array on PostgreSQL
    (`= ANY(%s)`, served by the column's index), a JSON list elsewhere. A batch's look-ups then cost
    the same to build as to run; an ORM `__in` of 5,000 values costs more to compile than to execute."""

    lookup_name = "in_list"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        values = list(self.rhs)
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s)", [*params, values]
        if connection.vendor == "sqlite":
            return f"{lhs} IN (SELECT value FROM json_each(%s))", [*params, json.dumps(values)]  # noqa: S608
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", [*params, *values]


class RowError(ValueError):
    """A bad row: the message says why, in words a merchant understands."""


@dataclass(frozen=True)
class LineMessage:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class ImportProgress:
    rows_read: int
    bytes_read: int
    bytes_total: int | None
    elapsed: float


@dataclass
class ImportResult:
    dry_run: bool
    rows_read: int = 0
    purchases_written: int = 0
    refunds_written: int = 0
    duplicates_skipped: int = 0
    customers_enrolled: int = 0
    points_earned: int = 0
    points_reversed: int = 0  # <= 0
    points_bonus: int = 0  # the enrolment bonuses of the customers it enrolled
    error_count: int = 0
    errors: list[LineMessage] = field(default_factory=list)
    warning_count: int = 0
    warnings: list[LineMessage] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error_count == 0

    @property
    def written(self) -> bool:
        """Whether the import's writes were kept (committed)."""
        return self.ok and not self.dry_run

    @property
    def points_awarded(self) -> int:
        return self.points_earned + self.points_reversed + self.points_bonus

    def add_error(self, line: int, reason: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_KEPT_MESSAGES:
            self.errors.append(LineMessage(line, reason))

    def add_warning(self, line: int, reason: str) -> None:
        self.warning_count += 1
        if len(self.warnings) < MAX_KEPT_MESSAGES:
            self.warnings.append(LineMessage(line, reason))


# ---------------------------------------------------------------------------------------------------
# Parsing one row. Pure functions of the text: the property tests exercise them directly.


def parse_moment(text: str, tz: dt.tzinfo) -> dt.datetime:
    """An ISO 8601 date or date-time as an aware moment; a date, or a date-time without offset, is local to `tz`."""
    cleaned = (text or "").strip()
    if not cleaned:
        raise RowError("occurred_at is missing")
    try:
        if _DATE_ONLY.fullmatch(cleaned):
            moment = dt.datetime.combine(dt.date.fromisoformat(cleaned), dt.time.min)
        elif "T" in cleaned or " " in cleaned:
            moment = dt.datetime.fromisoformat(cleaned)
        else:
            raise ValueError
    except ValueError:
        raise RowError(
            f"occurred_at '{cleaned[:40]}' is not a date (2025-01-31) or date-time (2025-01-31T23:30:00)"
        ) from None
    if moment.tzinfo is None:
        # zoneinfo resolves a wall time skipped or repeated by a daylight-saving change with fold=0,
        # as Django's make_aware does: the offset in force just before the change.
        moment = moment.replace(tzinfo=tz)
    # In UTC, as the database hands moments back: a local time in a daylight-saving gap or fold never
    # compares equal to another zone's moment (PEP 495), which would make a re-import see differences.
    return moment.astimezone(dt.UTC)


def parse_member_number(text: str) -> str:
    member = (text or "").strip()
    if not member:
        raise RowError("customer_id is missing")
    if len(member) > _MAX_MEMBER_NUMBER or not _MEMBER_NUMBER.fullmatch(member):
        raise RowError(
            f"customer_id '{member[:40]}' is not a member number (letters, digits, '-' or '_', "
            f"at most {_MAX_MEMBER_NUMBER} characters)"
        )
    return member


def parse_receipt(text: str, column: str = "transaction_id") -> str:
    receipt = (text or "").strip()
    if not receipt:
        raise RowError(f"{column} is missing")
    if len(receipt) > _MAX_RECEIPT:
        raise RowError(f"{column} is longer than {_MAX_RECEIPT} characters")
    return receipt


def parse_row_amount(text: str) -> Decimal:
    try:
        return parse_amount(text)
    except AmountError as exc:
        raise RowError(str(exc)) from None


# ---------------------------------------------------------------------------------------------------
# Reading the file as text, line numbers and all.


class _CountingReader(io.RawIOBase):
    """A binary stream that counts the bytes read through it (for the progress line's time left)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._stream.read(len(buffer))
        size = len(data)
        buffer[:size] = data
        self.count += size
        return size


def _size_of(stream: IO[bytes]) -> int | None:
    try:
        return os.fstat(stream.fileno()).st_size
    except (OSError, AttributeError, io.UnsupportedOperation):
        return None


@dataclass(slots=True)
class _Row:
    line: int
    member: str
    name: str
    receipt: str
    amount: Decimal
    moment: dt.datetime
    store: Store
    kind: str
    refund_of: str  # "" for a purchase
    key: tuple[int, str] = ()  # (store pk, receipt): unique among transactions

    def __post_init__(self) -> None:
        self.key = (self.store.pk, self.receipt)

    def describe(self) -> str:
        return f"transaction {self.receipt} at store {self.store.code}"


class _CustomerRef:
    """A customer by member number: already stored (pk known) or to be enrolled by this import."""

    __slots__ = ("member", "name", "name_warned", "pk")

    def __init__(self, member: str, name: str, pk: int | None) -> None:
        self.member = member
        self.name = name
        self.pk = pk
        self.name_warned = False


class _Purchase:
    """A purchase the batch refers to: new in this file or stored (for refunds and repeated receipts)."""

    __slots__ = (
        "amount", "customer", "earn_facts", "earn_pk", "earned", "moment", "pk", "receipt", "refunded", "stored",
        "version_pk",
    )  # fmt: skip

    def __init__(
        self, *, pk, customer, amount, refunded, moment, receipt, earn_pk, version_pk, stored, earn_facts=None
    ) -> None:
        self.pk = pk
        self.customer: _CustomerRef = customer
        self.amount: Decimal = amount
        self.refunded: Decimal = refunded
        self.moment: dt.datetime = moment
        self.receipt: str = receipt
        self.earn_pk: int | None = earn_pk
        self.version_pk: int = version_pk
        self.stored: bool = stored
        # The earn entry's facts: its context and tier multiplier are what the purchase's refunds reverse under.
        self.earn_facts: dict = earn_facts or {}
        # A new purchase's earn entry (points, facts, stamped), computed when the row is checked.
        self.earned: tuple[int, dict, bool] | None = None


# ---------------------------------------------------------------------------------------------------
# Writers: how rows reach the tables. The rows are the same; only the transport differs.


class OrmWriter:
    """bulk_create through the ORM: any database."""

    def insert(self, model, rows: list[dict[str, Any]]) -> list[int]:
        if not rows:
            return []
        created = model.objects.bulk_create([model(**row) for row in rows], batch_size=BATCH_SIZE)
        return [obj.pk for obj in created]


class CopyWriter:
    """COPY ... FROM STDIN through psycopg (PostgreSQL): ids are drawn from the table's sequence first,
    so that the rows referring to them can be written in the same way."""

    def insert(self, model, rows: list[dict[str, Any]]) -> list[int]:
        if not rows:
            return []
        meta = model._meta
        quote = connection.ops.quote_name
        columns = list(rows[0])
        # Fields the importer does not name (added to a model later, say) get the model's default, as
        # bulk_create would give them.
        others = [f for f in meta.concrete_fields if f.attname not in rows[0] and not f.primary_key]
        if others:
            rows = [row | {f.attname: f.get_default() for f in others} for row in rows]
            columns += [f.attname for f in others]
        json_fields = {f.attname for f in meta.concrete_fields if isinstance(f, JSONField)}
        json_at = [index for index, name in enumerate(columns) if name in json_fields]
        dumped: dict[int, str] = {}  # rows share their detail dicts (one per distinct amount): dump each once
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [meta.db_table, len(rows)],
            )
            ids = [pk for (pk,) in cursor.fetchall()]
            sql = f"COPY {quote(meta.db_table)} ({', '.join(quote(c) for c in ['id', *columns])}) FROM STDIN"
            with cursor.cursor.copy(sql) as copy:
                for pk, row in zip(ids, rows, strict=True):
                    values = [pk, *row.values()]
                    for index in json_at:
                        value = values[index + 1]
                        text = dumped.get(id(value))
                        if text is None:
                            text = dumped[id(value)] = json.dumps(value)
                        values[index + 1] = text
                    copy.write_row(values)
        return ids


def default_writer():
    return CopyWriter() if connection.vendor == "postgresql" else OrmWriter()


# ---------------------------------------------------------------------------------------------------
# The import.


class _Importer:
    def __init__(self, *, dry_run: bool, batch_size: int, writer, progress) -> None:
        self.result = ImportResult(dry_run=dry_run)
        self.batch_size = batch_size
        self.writer = writer or default_writer()
        self.progress = progress
        self.tz = timezone.get_default_timezone()
        self.stamp = timezone.now()  # created_at / recorded_at of everything this import writes
        self.timeline = RuleTimeline()
        self.versions: dict[int, RuleVersion] = {version.pk: version for version in self.timeline.versions}
        self.stores_by_code = {store.code: store for store in Store.objects.all()}
        self.store_codes = {store.pk: store.code for store in self.stores_by_code.values()}
        self.default_store = next((s for s in self.stores_by_code.values() if s.is_default), None)
        self.customers: dict[str, _CustomerRef] = {}
        self.new_customers: list[_CustomerRef] = []  # to enrol with the batch being checked
        self.earnings: dict[tuple, tuple[int, dict, bool]] = {}
        # Imported purchases earn at the tier each customer holds when the import starts (one query). An
        # import does not move customers up as it goes: the daily review_tiers command catches up on it.
        self.tier_multipliers: dict[int, Decimal] = dict(
            CustomerTier.objects.exclude(tier__multiplier=1).values_list("customer_id", "tier__multiplier")
        )
        self.first_entry_pk: int | None = None
        self.last_entry_pk: int | None = None

    # -- reading ------------------------------------------------------------------------------------

    def rows(self, binary: IO[bytes]) -> Iterator[_Row]:
        counter = self.counter = _CountingReader(binary)
        # Bytes that are not UTF-8 become lone surrogates, found row by row below: every such row is
        # reported with its own line number instead of the whole file failing at its first bad byte.
        text = io.TextIOWrapper(
            io.BufferedReader(counter, 1 << 16), encoding="utf-8-sig", errors="surrogateescape", newline=""
        )
        reader = csv.reader(text, strict=True)
        line = 0
        try:
            header = next(reader, None)
            while header is not None and not any(name.strip() for name in header):  # blank lines first
                header = next(reader, None)
            if header is None:
                self.result.add_error(1, "the file is empty: a header row is needed")
                return
            line = reader.line_num
            if _NOT_TEXT.search("".join(header)):
                self.result.add_error(line, "the file is not UTF-8 text")
                return
            columns = self.columns(header, line)
            if columns is None:
                return
            width = len(header)
            for fields in reader:
                start, line = line + 1, reader.line_num
                if not fields or (len(fields) == 1 and not fields[0].strip()):
                    continue  # a blank line
                self.result.rows_read += 1
                if _NOT_TEXT.search("".join(fields)):
                    self.result.add_error(start, "not UTF-8 text")
                elif len(fields) != width:
                    self.result.add_error(start, f"expected {width} fields as in the header, found {len(fields)}")
                else:
                    try:
                        yield self.parse(fields, columns, start)
                    except RowError as exc:
                        self.result.add_error(start, str(exc))
        except csv.Error as exc:
            self.result.add_error(line + 1, f"unreadable CSV ({exc}); nothing after this line was read")

    def columns(self, header: list[str], line: int) -> dict[str, int] | None:
        names = [name.strip().lower() for name in header]
        repeated = sorted({name for name in names if name and names.count(name) > 1})
        missing = [name for name in REQUIRED_COLUMNS if name not in names]
        if repeated:
            self.result.add_error(line, f"column(s) named more than once: {', '.join(repeated)}")
        if missing:
            self.result.add_error(line, f"required column(s) missing: {', '.join(missing)}")
        if repeated or missing:
            return None
        return {name: names.index(name) for name in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS) if name in names}

    def parse(self, fields: list[str], columns: dict[str, int], line: int) -> _Row:
        """The row's values, or RowError naming every problem of the row (not just the first)."""
        get = columns.get
        try:
            index = get("customer_name")
            name = fields[index].strip() if index is not None else ""
            if len(name) > _MAX_NAME:
                raise RowError(f"customer_name is longer than {_MAX_NAME} characters")
            index = get("store")
            index_kind, index_refund = get("kind"), get("refund_of")
            kind, refund_of = self.kind(
                fields[index_kind].strip() if index_kind is not None else "",
                fields[index_refund].strip() if index_refund is not None else "",
            )
            return _Row(
                line=line,
                member=parse_member_number(fields[columns["customer_id"]]),
                name=name,
                receipt=parse_receipt(fields[columns["transaction_id"]]),
                amount=parse_row_amount(fields[columns["amount"]]),
                moment=parse_moment(fields[columns["occurred_at"]], self.tz),
                store=self.store(fields[index].strip() if index is not None else ""),
                kind=kind,
                refund_of=refund_of,
            )
        except RowError:
            raise RowError("; ".join(self.problems(fields, columns))) from None

    def problems(self, fields: list[str], columns: dict[str, int]) -> list[str]:
        """Every problem of a bad row, each checked on its own."""

        def value(name: str) -> str:
            index = columns.get(name)
            return fields[index].strip() if index is not None else ""

        checks = (
            lambda: parse_member_number(value("customer_id")),
            lambda: parse_receipt(value("transaction_id")),
            lambda: parse_row_amount(value("amount")),
            lambda: parse_moment(value("occurred_at"), self.tz),
            lambda: self.store(value("store")),
            lambda: self.kind(value("kind"), value("refund_of")),
        )
        reasons = []
        for check in checks:
            try:
                check()
            except RowError as exc:
                reasons.append(str(exc))
        if len(value("customer_name")) > _MAX_NAME:
            reasons.append(f"customer_name is longer than {_MAX_NAME} characters")
        return reasons

    def store(self, code: str) -> Store:
        if not code:
            if self.default_store is None:
                raise RowError("store is missing and there is no default store")
            return self.default_store
        try:
            return self.stores_by_code[code]
        except KeyError:
            raise RowError(f"store '{code[:40]}' is not a known store code") from None

    @staticmethod
    def kind(kind: str, refund_of: str) -> tuple[str, str]:
        kind = kind.lower() or PURCHASE
        if kind == PURCHASE:
            if refund_of:
                raise RowError("refund_of is only for rows of kind 'refund'")
            return PURCHASE, ""
        if kind == REFUND:
            return REFUND, parse_receipt(refund_of, "refund_of")
        raise RowError(f"kind '{kind[:20]}' is neither 'purchase' nor 'refund'")

    # -- checking and writing a batch ---------------------------------------------------------------

    def run(self, binary: IO[bytes]) -> ImportResult:
        # The books are held open until the import commits: no month closes under it (rewards.services.books).
        self.books = share_books()
        started = time.monotonic()
        total = _size_of(binary)
        batch: list[_Row] = []
        for row in self.rows(binary):
            batch.append(row)
            if len(batch) >= self.batch_size:
                self.process(batch)
                batch = []
                if self.progress:
                    elapsed = time.monotonic() - started
                    self.progress(ImportProgress(self.result.rows_read, self.counter.count, total, elapsed))
        self.process(batch)
        if self.first_entry_pk is not None:
            # The whole import's entries, once: our ids and our stamp (a concurrent till's entry could
            # take an id in the range, never our created_at).
            written = PointsEntry.objects.filter(
                pk__gte=self.first_entry_pk, pk__lte=self.last_entry_pk, created_at=self.stamp
            )
            fold_into_rollup(written)
            fold_into_liability(written)
        return self.result

    def process(self, batch: list[_Row]) -> None:
        if not batch:
            return
        stored = self.stored_transactions(batch)
        targets = self.stored_purchases(batch)
        self.resolve_customers(batch)
        seen: dict[tuple[int, str], _Row] = {}
        purchases: list[tuple[_Row, _Purchase]] = []
        new_purchases: dict[tuple[int, str], _Purchase] = {}
        refunds: list[tuple[_Row, _Purchase, Decimal]] = []  # row, purchase, refunded before
        for row in batch:
            try:
                check_moment(row.moment, kind=row.kind)
            except ValidationError as refusal:
                self.result.add_error(row.line, f"occurred_at {row.moment.isoformat()}: {_said(refusal)}")
                continue
            if self.books.is_closed(row.moment):
                # "line 12: May 2025 is closed: nothing can be dated in it. ..." (rewards.services.books)
                self.result.add_error(row.line, self.books.refusal(row.moment, field=None).message)
                continue
            key = row.key
            earlier = seen.get(key)
            if earlier is not None or key in stored:
                difference = self.difference(row, earlier) if earlier is not None else self.difference(row, stored[key])
                if difference is None:
                    self.result.duplicates_skipped += 1
                elif earlier is not None:
                    self.result.add_error(
                        row.line, f"{row.describe()} is also on line {earlier.line}, with {difference}"
                    )
                elif stored[key][-1]:
                    self.result.add_error(row.line, f"{row.describe()} is also earlier in the file, with {difference}")
                else:
                    self.result.add_error(row.line, f"{row.describe()} is already stored, with {difference}")
                continue
            seen[key] = row
            customer = self.customer_of(row)
            if row.kind == PURCHASE:
                try:
                    version = self.timeline.at(row.moment)
                except LookupError:
                    self.result.add_error(row.line, f"no earning rule is in force at {row.moment.isoformat()}")
                    continue
                purchase = _Purchase(
                    pk=None, customer=customer, amount=row.amount, refunded=Decimal("0.00"), moment=row.moment,
                    receipt=row.receipt, earn_pk=None, version_pk=version.pk, stored=False,
                )  # fmt: skip
                multiplier = self.tier_multipliers.get(customer.pk, Decimal(1))
                try:
                    purchase.earned = self.earning(row, version.pk, multiplier)
                except engine.TooManyPoints as refusal:
                    self.result.add_error(row.line, refusal.message)
                    continue
                purchases.append((row, purchase))
                new_purchases[key] = purchase
            else:
                target_key = (row.key[0], row.refund_of)
                purchase = new_purchases.get(target_key) or targets.get(target_key)
                reason = self.refund_problem(row, purchase, customer)
                if reason:
                    self.result.add_error(row.line, reason)
                    continue
                refunds.append((row, purchase, purchase.refunded))
                purchase.refunded += row.amount
        self.write(purchases, refunds, targets)

    def difference(self, row: _Row, other) -> str | None:
        """What differs between a row and an earlier row or stored transaction with its receipt, or None."""
        if isinstance(other, _Row):
            theirs = (other.member, other.amount, other.moment, other.kind, other.refund_of)
        else:
            theirs = other
        ours = (row.member, row.amount, row.moment, row.kind, row.refund_of)
        labels = ("customer_id", "amount", "occurred_at", "kind", "refund_of")
        for label, mine, other_value in zip(labels, ours, theirs[:5], strict=True):
            if mine != other_value:
                shown = other_value.isoformat() if isinstance(other_value, dt.datetime) else other_value
                return f"{label} {shown or '(none)'}"
        return None

    def refund_problem(self, row: _Row, purchase: _Purchase | None, customer: _CustomerRef) -> str | None:
        """Why a refund row cannot be recorded (the service's refund rules, said for a line), or None."""
        if purchase is None:
            return (
                f"refund_of {row.refund_of}: no such purchase at store {row.store.code} "
                "(stored, or earlier in this file)"
            )
        if purchase.stored and purchase.earn_pk is None:
            return f"refund_of {row.refund_of}: the purchase has no earn entry to reverse"
        try:
            check_refund(
                purchase_kind=PURCHASE,
                purchase_moment=purchase.moment,
                left=purchase.amount - purchase.refunded,
                amount=row.amount,
                occurred_at=row.moment,
                customer=customer.member,
                purchase_customer=purchase.customer.member,
            )
        except ValidationError as refusal:
            return "; ".join(_said(error, refund_of=row.refund_of) for error in _each(refusal))
        return None

    # -- look-ups ----------------------------------------------------------------------------------

    def _by_store(self, keys) -> dict[int, set[str]]:
        grouped: dict[int, set[str]] = {}
        for store_pk, receipt in keys:
            grouped.setdefault(store_pk, set()).add(receipt)
        return grouped

    def stored_transactions(self, batch: list[_Row]) -> dict[tuple[int, str], tuple]:
        """The batch's receipts already stored (before this import, or earlier in it), as comparable tuples."""
        found = {}
        for store_pk, receipts in self._by_store(row.key for row in batch).items():
            values = Transaction.objects.filter(InList(F("receipt_number"), receipts), store_id=store_pk).values_list(
                "receipt_number",
                "customer__member_number",
                "amount",
                "occurred_at",
                "kind",
                "refund_of__receipt_number",
                "recorded_at",
            )
            for receipt, member, amount, moment, kind, refund_of, recorded_at in values:
                # Last: whether this import wrote it (from an earlier batch of the same file).
                found[(store_pk, receipt)] = (member, amount, moment, kind, refund_of or "", recorded_at == self.stamp)
        return found

    def stored_purchases(self, batch: list[_Row]) -> dict[tuple[int, str], _Purchase]:
        """The stored purchases the batch's refunds refer to, locked against a till refunding them meanwhile."""
        keys = [(row.key[0], row.refund_of) for row in batch if row.refund_of]
        found = {}
        for store_pk, receipts in self._by_store(keys).items():
            rows = list(
                Transaction.objects.select_for_update(of=("self",))
                .filter(InList(F("receipt_number"), receipts), store_id=store_pk, kind=Transaction.Kind.PURCHASE)
                .values_list("pk", "receipt_number", "customer_id", "customer__member_number", "amount",
                             "refunded_amount", "occurred_at")
            )  # fmt: skip
            earns = {
                purchase_pk: (entry_pk, version_pk, detail)
                for purchase_pk, entry_pk, version_pk, detail in PointsEntry.objects.filter(
                    InList(F("transaction_id"), [r[0] for r in rows]), kind=PointsEntry.Kind.EARN
                ).values_list("transaction_id", "pk", "rule_version_id", "facts")
            }
            for pk, receipt, customer_pk, member, amount, refunded, moment in rows:
                ref = self.customers.get(member) or _CustomerRef(member, "", customer_pk)
                earn_pk, version_pk, earn_facts = earns.get(pk, (None, None, None))
                found[(store_pk, receipt)] = _Purchase(
                    pk=pk, customer=ref, amount=amount, refunded=refunded, moment=moment, receipt=receipt,
                    earn_pk=earn_pk, version_pk=version_pk, stored=True, earn_facts=earn_facts,
                )  # fmt: skip
        return found

    def resolve_customers(self, batch: list[_Row]) -> None:
        unknown = {row.member for row in batch if row.member not in self.customers}
        if not unknown:
            return
        if len(self.customers) > CUSTOMER_CACHE_LIMIT:
            self.customers.clear()  # every ref is stored by now: forgetting costs only a look-up
        for pk, member, name in Customer.objects.filter(InList(F("member_number"), unknown)).values_list(
            "pk", "member_number", "name"
        ):
            self.customers[member] = _CustomerRef(member, name, pk)

    def customer_of(self, row: _Row) -> _CustomerRef:
        ref = self.customers.get(row.member)
        if ref is None:
            ref = self.customers[row.member] = _CustomerRef(row.member, row.name or row.member, None)
            self.new_customers.append(ref)
            return ref
        if row.name and row.name != ref.name and not ref.name_warned:
            ref.name_warned = True
            self.result.add_warning(
                row.line,
                f"customer {row.member} is enrolled as '{ref.name}'; the name '{row.name}' was not used",
            )
        return ref

    def earning(self, row: _Row, version_pk: int, multiplier: Decimal = Decimal(1)) -> tuple[int, dict, bool]:
        """Points, facts and stamp of a purchase's earn entry under a rule version and the customer's tier
        multiplier: `earn_fields`, the till's own, in the purchase's promotion context, remembered per amount,
        context and multiplier (a million purchases have far fewer distinct ones)."""
        rule = self.timeline.rule_of(self.versions[version_pk])
        context = purchase_context(rule, occurred_at=row.moment, store_code=self.store_codes[row.key[0]])
        key = (version_pk, row.amount, context, multiplier)
        known = self.earnings.get(key)
        if known is None:
            if len(self.earnings) > 100_000:
                self.earnings.clear()
            fields = earn_fields(amount=row.amount, rule=rule, context=context, tier_multiplier=multiplier)
            known = self.earnings[key] = (fields.points, fields.facts, fields.stamped)
        return known

    # -- writing -------------------------------------------------------------------------------------

    def write(self, purchases, refunds, targets) -> None:
        insert = self.writer.insert
        enrol, self.new_customers = self.new_customers, []
        if enrol:
            ids = insert(Customer, [self.customer_row(ref) for ref in enrol])
            for ref, pk in zip(enrol, ids, strict=True):
                ref.pk = pk
            self.result.customers_enrolled += len(enrol)
            # The program's enrolment bonus, as enrolling at the till gives it (joined at the import's moment).
            bonuses = enrolment_bonus_entries(ids, moment=self.stamp)
            self.note_entries(insert(PointsEntry, [self.bonus_row(entry) for entry in bonuses]))
            self.result.points_bonus += sum(entry.points for entry in bonuses)

        ids = insert(Transaction, [self.transaction_row(row, purchase) for row, purchase in purchases])
        for (_row, purchase), pk in zip(purchases, ids, strict=True):
            purchase.pk = pk
        earn_rows = []
        for row, purchase in purchases:
            points, facts, stamped = purchase.earned
            purchase.earn_facts = facts
            self.result.points_earned += points
            earn_rows.append(
                self.entry_row(
                    customer=purchase.customer.pk, kind=EARN, points=points, moment=row.moment,
                    transaction=purchase.pk, version=purchase.version_pk, corrects=None, note="", facts=facts,
                    stamped=stamped,
                )
            )  # fmt: skip
        ids = insert(PointsEntry, earn_rows)
        for (_row, purchase), pk in zip(purchases, ids, strict=True):
            purchase.earn_pk = pk
        self.note_entries(ids)
        self.result.purchases_written += len(purchases)

        if refunds:
            refund_pks = insert(Transaction, [self.transaction_row(row, purchase) for row, purchase, _ in refunds])
            reversal_rows = []
            for (row, purchase, refunded_before), refund_pk in zip(refunds, refund_pks, strict=True):
                entry = self.reversal(row, purchase, refunded_before, refund_pk)
                self.result.points_reversed += entry["points"]
                reversal_rows.append(entry)
            self.note_entries(insert(PointsEntry, reversal_rows))
            self.result.refunds_written += len(refunds)
            changed = [Transaction(pk=p.pk, refunded_amount=p.refunded) for p in targets.values() if p.refunded]
            if changed:
                Transaction.objects.bulk_update(changed, ["refunded_amount"], batch_size=BATCH_SIZE)

    def note_entries(self, ids: list[int]) -> None:
        if ids:
            low, high = min(ids), max(ids)
            self.first_entry_pk = low if self.first_entry_pk is None else min(self.first_entry_pk, low)
            self.last_entry_pk = high if self.last_entry_pk is None else max(self.last_entry_pk, high)

    def customer_row(self, ref: _CustomerRef) -> dict[str, Any]:
        return {
            "member_number": ref.member, "name": ref.name, "email": "", "phone": "", "birthday": None,
            "date_joined": self.stamp, "home_store_id": None, "referred_by_id": None,
        }  # fmt: skip

    def transaction_row(self, row: _Row, purchase: _Purchase) -> dict[str, Any]:
        refund = row.kind == REFUND
        return {
            "customer_id": purchase.customer.pk,
            "store_id": row.key[0],
            "kind": row.kind,
            "amount": row.amount,
            # A purchase refunded later in the same batch is written with its refunds already counted.
            "refunded_amount": Decimal("0.00") if refund else purchase.refunded,
            "occurred_at": row.moment,
            "receipt_number": row.receipt,
            "refund_of_id": purchase.pk if refund else None,
            "recorded_by_id": None,
            "source": IMPORT,
            "idempotency_key": None,
            "recorded_at": self.stamp,
        }

    def entry_row(self, *, customer, kind, points, moment, transaction, version, corrects, note, facts, stamped=False):
        return {
            "customer_id": customer, "kind": kind, "points": points, "effective_at": moment,
            "created_at": self.stamp, "transaction_id": transaction, "rule_version_id": version,
            "created_by_id": None, "corrects_id": corrects, "reason": "", "note": note,
            "facts": facts, "stamped": stamped,
        }  # fmt: skip

    def bonus_row(self, entry: PointsEntry) -> dict[str, Any]:
        return self.entry_row(
            customer=entry.customer_id, kind=BONUS, points=entry.points, moment=entry.effective_at, transaction=None,
            version=entry.rule_version_id, corrects=None, note="", facts={},
        ) | {"reason": entry.reason, "bonus_key": entry.bonus_key}  # fmt: skip

    def reversal(self, row: _Row, purchase: _Purchase, refunded_before: Decimal, refund_pk: int) -> dict[str, Any]:
        """reversal_entry's own entry for the refund, on unsaved stand-ins of the rows it reads."""
        version = self.versions[purchase.version_pk]
        refund = Transaction(pk=refund_pk, amount=row.amount, occurred_at=row.moment)
        stand_in = Transaction(
            pk=purchase.pk, customer_id=purchase.customer.pk, amount=purchase.amount, receipt_number=purchase.receipt
        )
        earned = PointsEntry(pk=purchase.earn_pk, rule_version=version, facts=purchase.earn_facts)
        entry = reversal_entry(refund=refund, purchase=stand_in, refunded_before=refunded_before, earned=earned)
        return self.entry_row(
            customer=purchase.customer.pk, kind=REVERSAL, points=entry.points, moment=row.moment,
            transaction=refund_pk, version=version.pk, corrects=purchase.earn_pk,
            note=entry.note, facts=entry.facts,
        )  # fmt: skip


def _each(error: ValidationError) -> list[ValidationError]:
    """The single refusals of a (field-keyed) ValidationError."""
    if hasattr(error, "error_dict"):
        return [single for errors in error.error_dict.values() for single in errors]
    return list(error.error_list)


def _said(error: ValidationError, **context: str) -> str:
    """A refusal as a line of the import says it: the import's own wording of its code, else the service's
    message in lower case without its full stop."""
    single = _each(error)[0] if hasattr(error, "error_dict") or len(error.error_list) > 1 else error
    params = {**(single.params or {}), **context}
    wording = REFUND_WORDING.get(single.code)
    if wording:
        return wording.format(**params)
    message = single.message % params if single.params else single.message
    return message[:1].lower() + message[1:].rstrip(".")


def import_transactions(
    source: str | Path | IO[bytes],
    *,
    dry_run: bool = False,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[ImportProgress], None] | None = None,
    writer: OrmWriter | CopyWriter | None = None,
) -> ImportResult:
    """Import a CSV record of purchases and refunds (a path, or a binary stream), all or nothing.

    Returns what was (or, on a dry run or a bad file, would have been) written, with every bad row as
    `line N: reason`. Nothing is kept unless every row is good and it is not a dry run.
    """
    importer = _Importer(dry_run=dry_run, batch_size=batch_size, writer=writer, progress=progress)
    with transaction.atomic(), _constraints_checked_per_statement():
        if isinstance(source, str | Path):
            with open(source, "rb") as binary:
                result = importer.run(binary)
        else:
            result = importer.run(source)
        if not result.written:
            transaction.set_rollback(True)
    return result


@contextmanager
def _constraints_checked_per_statement() -> Iterator[None]:
    """On PostgreSQL, check the foreign keys (deferred to the commit by Django) at the end of each batch's
    statement instead: while the rows they look up are still in the buffer cache, rather than a million
    checks at the commit against rows long evicted. Deferred again afterwards, as Django declares them."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    try:
        yield
    finally:
        if not connection.needs_rollback:
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")


__all__ = [
    "CopyWriter",
    "ImportProgress",
    "ImportResult",
    "LineMessage",
    "OrmWriter",
    "RowError",
    "import_transactions",
    "parse_moment",
]
