"""Importing a whole record of purchases and refunds from a CSV file: exact, all or nothing, set-based.

The file is read once, as text, into a temporary staging table (COPY on PostgreSQL, executemany elsewhere),
each row with its line number; nothing is typed in Python on the way. The rest is a few SQL statements over
the whole file, inside ONE database transaction (transactions.import_stages says each stage): one statement
checks and types every row, duplicates, customers and refunds are found by set operations, the points are
`rewards.services.earning.earn_fields` once per distinct earning key and a refund's reversal is
`reversal_entry` itself, and the writes are INSERT ... SELECT, folded into the roll-ups once. A bad row
anywhere is reported by line with every other bad row, and nothing is written; a dry run checks and writes
everything, then rolls it back, so it reports exactly what a real import would do.

Rows are judged by the recording service's own checks (transactions.services: a moment in the future, the
refund rules) and by the books (a closed month). Points are the rewards app's: a purchase earns under the rule
version in force at its moment, at the tier its customer holds when the import starts, in its promotion
context (local day and store), as `record_purchase` would; a customer it enrols gets the program's enrolment
bonus (`rewards.services.bonuses.enrolment_bonus_entries`).

On the partitioned ledger (PostgreSQL), the months the rows need are made before the write, in a short
transaction of their own (`rewards.partitions.ensure_months_apart`), so that no row lands in the DEFAULT
partition; the data's all-or-nothing is unchanged (a refused import leaves at most an empty month).

`file_points` runs the same stages on a file without writing anything: the per-customer, per-month points of
the file under the program's rules (`manage.py points_report --file`).
"""

from __future__ import annotations

import csv
import datetime as dt
import gc
import io
import logging
import multiprocessing
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import IO

from django.db import connection, transaction
from django.utils import timezone

from rewards.partitions import ensure_months_apart
from rewards.services.bonuses import enrolment_bonus_entries
from rewards.services.books import share_books

from .import_rows import RowError, parse_member_number, parse_moment, parse_receipt, parse_row_amount
from .import_sql import dialect
from .import_stages import STAGED_COLUMNS, Stages
from .import_tally import Declined, FileTally, ReadAgain

logger = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("customer_id", "transaction_id", "amount", "occurred_at")
OPTIONAL_COLUMNS = ("customer_name", "store", "kind", "refund_of")
BATCH_SIZE = 5000
# Every bad row is counted; the messages of the first ones are kept (a file of a million bad rows
# must not hold a million messages in memory).
MAX_KEPT_MESSAGES = 10_000
# Stage updates reach the progress callback at most this often (a small file's import sends none).
STAGE_PROGRESS_SECONDS = 1.0
# The file report reads a file at least this large in two parts at once (see _tallied).
SPLIT_BYTES = 8 << 20
SECOND_PART_GRACE = 30  # seconds the second part may take beyond twice the first's before it is given up

# Lone surrogates (bytes that were not UTF-8, kept by surrogateescape) and NUL: not text.
_NOT_TEXT = re.compile("[\udc80-\udcff\x00]")


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
    # The stage under way once the whole file is read ("checking", "earning", "writing"...), else "".
    stage: str = ""


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
# Reading the file as text, line numbers and all, into the staging table.


class _CountingReader(io.RawIOBase):
    """A binary stream that counts the bytes read through it (for the progress line's time left)."""

    def __init__(self, stream: IO[bytes], limit: int | None = None) -> None:
        self._stream = stream
        self.count = 0
        self.limit = limit  # bytes to read at most (the first part of a file read in two parts at once)
        self.nul = False  # whether a NUL byte was read (the one pass leaves such a file to the stages)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        wanted = len(buffer) if self.limit is None else min(len(buffer), self.limit - self.count)
        data = self._stream.read(wanted) if wanted > 0 else b""
        size = len(data)
        buffer[:size] = data
        self.count += size
        self.nul = self.nul or b"\x00" in data
        return size


def _size_of(stream: IO[bytes]) -> int | None:
    try:
        return os.fstat(stream.fileno()).st_size
    except (OSError, AttributeError, io.UnsupportedOperation):
        return None


class CopyWriter:
    """Stages rows with COPY ... FROM STDIN (PostgreSQL): a batch of rows is one CSV text the server parses."""

    def stage(self, columns: list[str], rows: list[tuple]) -> None:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(rows)
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(
                # An empty field is '' (as the csv module reads it), never NULL.
                f"COPY imp_row ({', '.join(columns)}) FROM STDIN "
                f"WITH (FORMAT csv, FORCE_NOT_NULL ({', '.join(columns[1:])}))"
            ) as copy,
        ):
            copy.write(buffer.getvalue())


class OrmWriter:
    """Stages rows with executemany: any database."""

    def stage(self, columns: list[str], rows: list[tuple]) -> None:
        placeholders = ", ".join(["%s"] * len(columns))
        with connection.cursor() as cursor:
            # Only the staged columns' names are interpolated; the values are parameters.
            sql = f"INSERT INTO imp_row ({', '.join(columns)}) VALUES ({placeholders})"  # noqa: S608
            cursor.executemany(sql, rows)


def default_writer():
    return CopyWriter() if connection.vendor == "postgresql" else OrmWriter()


class _Reader:
    """The file's rows into imp_row, each with its line; what cannot be staged (not UTF-8, the wrong number
    of fields, unreadable CSV, a bad header) is reported by line here."""

    def __init__(self, result: ImportResult, *, batch_size: int, writer, progress, started: float) -> None:
        self.result = result
        self.batch_size = batch_size
        self.writer = writer
        self.progress = progress
        self.started = started
        self.counter: _CountingReader | None = None
        self.total: int | None = None

    def stage(self, binary: IO[bytes]) -> bool:
        """Stage every row; False when the header is unusable (nothing else to check)."""
        found = self.open(binary)
        if found is None:
            return False
        rows, columns = found
        names = ["line", *columns]
        pick = itemgetter(*columns.values())
        batch: list[tuple] = []
        for start, fields in rows:
            values = pick(fields)
            batch.append((start, *values) if len(columns) > 1 else (start, values))
            if len(batch) >= self.batch_size:
                self.writer.stage(names, batch)
                batch = []
        if batch:
            self.writer.stage(names, batch)
        return True

    def open(self, binary: IO[bytes]) -> tuple[Iterator[tuple[int, list[str]]], dict[str, int]] | None:
        """The file's rows (line, fields), as a reader of them, and the columns the import reads (name -> index of
        the field); None when the header is unusable (nothing else to check)."""
        # Bytes that are not UTF-8 become lone surrogates, found row by row below: every such row is
        # reported with its own line number instead of the whole file failing at its first bad byte.
        found = self.header(binary, errors="surrogateescape")
        if found is None:
            return None
        reader, columns, width, line = found
        return self.rows(reader, width=width, line=line), columns

    def header(
        self, binary: IO[bytes], *, errors: str, limit: int | None = None
    ) -> tuple[Iterator[list[str]], dict[str, int], int, int] | None:
        """The csv reader of the file's rows after its header, the columns the import reads (name -> index of the
        field), the header's width and line; None when the header is unusable (reported). With `errors` "strict",
        a byte that is not UTF-8 raises UnicodeDecodeError wherever it is read (the one pass's reading); `limit`:
        the bytes to read at most."""
        self.total = _size_of(binary)
        counter = self.counter = _CountingReader(binary, limit)
        text = io.TextIOWrapper(io.BufferedReader(counter, 1 << 16), encoding="utf-8-sig", errors=errors, newline="")
        reader = csv.reader(text, strict=True)
        result, line = self.result, 0
        try:
            header = next(reader, None)
            while header is not None and not any(name.strip() for name in header):  # blank lines first
                header = next(reader, None)
        except csv.Error as exc:
            result.add_error(line + 1, f"unreadable CSV ({exc}); nothing after this line was read")
            return None
        if header is None:
            result.add_error(1, "the file is empty: a header row is needed")
            return None
        line = reader.line_num
        if _NOT_TEXT.search("".join(header)):
            result.add_error(line, "the file is not UTF-8 text")
            return None
        columns = self.columns(header, line)
        if columns is None:
            return None
        return reader, columns, len(header), line

    def rows(self, reader, *, width: int, line: int) -> Iterator[tuple[int, list[str]]]:
        """(line, fields) of each row with text in every field and as many fields as the header; every other row
        is reported by line. The progress callback hears of every `batch_size` rows."""
        result, search, batch_size, good = self.result, _NOT_TEXT.search, self.batch_size, 0
        try:
            for fields in reader:
                start, line = line + 1, reader.line_num
                if not fields or (len(fields) == 1 and not fields[0].strip()):
                    continue  # a blank line
                result.rows_read += 1
                if search("".join(fields)):  # any field, a column the import ignores too
                    result.add_error(start, "not UTF-8 text")
                    continue
                if len(fields) != width:
                    result.add_error(start, f"expected {width} fields as in the header, found {len(fields)}")
                    continue
                yield start, fields
                good += 1
                if good % batch_size == 0 and self.progress:
                    self.progress(self.update())
        except csv.Error as exc:
            result.add_error(line + 1, f"unreadable CSV ({exc}); nothing after this line was read")

    def counted(self, rows: int) -> None:
        """`rows` more rows read by someone else's loop (the one pass's): counted, and the progress told."""
        self.result.rows_read += rows
        if self.progress:
            self.progress(self.update())

    def update(self, stage: str = "") -> ImportProgress:
        elapsed = time.monotonic() - self.started
        read = self.counter.count if self.counter else 0
        return ImportProgress(self.result.rows_read, read, self.total, elapsed, stage)

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
        return {name: names.index(name) for name in STAGED_COLUMNS if name in names}


# ---------------------------------------------------------------------------------------------------
# The import.


class _Run:
    """One pass of the stages over a file: an import (written or not), or a report of the file alone."""

    def __init__(self, *, dry_run: bool, batch_size: int, writer, progress, make_months: bool = False) -> None:
        self.result = ImportResult(dry_run=dry_run)
        # Whether to make the ledger's months the rows need before writing (an import to be kept, begun outside
        # any transaction: see compute).
        self.make_months = make_months and not dry_run
        self.progress = progress
        self.started = time.monotonic()
        self.last_update = self.started
        self.reader = _Reader(
            self.result,
            batch_size=batch_size,
            writer=writer or default_writer(),
            progress=progress,
            started=self.started,
        )
        self.stages = Stages(stamp=timezone.now(), batch_size=batch_size, keep=MAX_KEPT_MESSAGES, dialect=dialect())

    def stage(self, name: str) -> None:
        """Say which stage is under way (at most once a second: a small file's import says nothing)."""
        now = time.monotonic()
        if self.progress and now - self.last_update >= STAGE_PROGRESS_SECONDS:
            self.last_update = now
            self.progress(self.reader.update(name))

    def compute(self, binary: IO[bytes], *, stored: bool = True) -> bool:
        """Stage and check the file, and compute its points: False when its header is unusable."""
        stages, tz = self.stages, timezone.get_default_timezone()
        # The books are held open until the import commits: no month closes under it (rewards.services.books).
        books = share_books()
        stages.create_staging()
        if not self.reader.stage(binary):
            return False
        self.stage("checking")
        stages.type_rows(parse_moment=lambda text: parse_moment(text, tz), tz=tz, stored=stored)
        stages.stop_rows(books)
        if self.make_months:
            # The partitioned ledger's months for the rows' moments, made and committed on a connection of their
            # own now, while this transaction holds no lock on the ledger (it has not read it yet), so that no
            # entry lands in DEFAULT (which the daily job would split under the ledger's exclusive lock) and the
            # DDL's lock lasts only as long as the DDL. The data stays all or nothing: a month made for an import
            # that is then refused, or fails, is an empty partition, as the months made ahead are.
            self.stage("making months")
            ensure_months_apart(stages.ledger_months())
        self.stage("matching")
        stages.select_new_rows()
        self.stage("earning")
        stages.compute_earnings()
        stages.compute_refunds(lock=stored)
        return True

    def report(self, *, counts: bool = True) -> None:
        """The result's problems, warnings and counts (what the good rows give, even when some are bad)."""
        result, stages = self.result, self.stages
        count, problems = stages.problems()
        for problem in problems:
            result.add_error(problem.line, problem.reason)
        result.error_count += count - len(problems)
        result.errors.sort(key=lambda message: message.line)
        del result.errors[MAX_KEPT_MESSAGES:]
        if not counts:
            return
        warnings, kept = stages.warnings()
        for warning in kept:
            result.add_warning(warning.line, warning.reason)
        result.warning_count += warnings - len(kept)
        counts = stages.counts()
        result.purchases_written, result.refunds_written = counts.purchases, counts.refunds
        result.duplicates_skipped, result.customers_enrolled = counts.duplicates, counts.customers
        result.points_earned, result.points_reversed = counts.points_earned, counts.points_reversed

    def run(self, binary: IO[bytes]) -> ImportResult:
        if self.compute(binary):
            self.report()
            if self.result.ok:
                self.stage("writing")
                _enrolled, self.result.points_bonus = self.stages.write()
            elif self.result.customers_enrolled:
                # Not written: the bonus the enrolled customers would have had, from one stand-in.
                per_customer = sum(entry.points for entry in enrolment_bonus_entries([0], moment=self.stages.stamp))
                self.result.points_bonus = per_customer * self.result.customers_enrolled
        self.stages.drop()
        return self.result


def _open(source: str | Path | IO[bytes]):
    return open(source, "rb") if isinstance(source, str | Path) else _Unclosed(source)


class _Unclosed:
    """A caller's stream, used as a context manager without closing it."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream

    def __enter__(self) -> IO[bytes]:
        return self.stream

    def __exit__(self, *exc) -> None:
        return None


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
    `line N: reason`. Nothing is kept unless every row is good and it is not a dry run. `batch_size` is
    how many rows are staged at a time (and how often the callback hears of the rows read); `writer`
    how they are staged (COPY on PostgreSQL by default).
    """
    # Inside a caller's transaction, the months could not be made apart from it (the caller may hold the ledger):
    # rows of a month without a partition then go to DEFAULT, and the daily job moves them.
    run = _Run(
        dry_run=dry_run,
        batch_size=batch_size,
        writer=writer,
        progress=progress,
        make_months=not connection.in_atomic_block,
    )
    with _open(source) as binary, transaction.atomic(), _import_settings():
        result = run.run(binary)
        if not result.written:
            transaction.set_rollback(True)
    return result


@dataclass(frozen=True)
class FilePoints:
    """A file's points per customer and local month under the program's rules (nothing written)."""

    result: ImportResult
    months: list[dt.date]
    # (member number, name, month) -> points earned less refunds' reversals, the report's figure
    points: dict[tuple[str, str], dict[dt.date, int]]


def file_points(source: str | Path | IO[bytes], *, progress=None) -> FilePoints:
    """The import's points of a file, written nowhere: every row of the file counts (a receipt already stored
    too), refunds of stored purchases reverse under their earn entries, and the customers' names are the stored
    ones where they are members. Bad rows are in `result`, as an import reports them.

    One streaming pass computes a good file's points (transactions.import_tally); at anything it leaves to the
    stages (a bad row, a refund of a stored purchase), or for a stream it cannot read twice, the import's
    stages run on the file, rolled back."""
    with _open(source) as binary:
        start = binary.tell() if binary.seekable() else None
        found = _tallied(binary, progress) if start is not None else None
        if found is None:
            if start is not None:
                binary.seek(start)
            found = _staged(binary, progress)
    return found


def _tallied(binary: IO[bytes], progress, *, in_parts: bool = True) -> FilePoints | None:
    """The file's points by one pass in Python, or None when it leaves the file to the stages. A large file is
    read in two parts at once where it can be (`_split_point`): this process reads the first, a process of its own
    the second (`_SecondPart`), and the first part's tally takes in the second's (`FileTally.merge`); when that
    cannot say (a receipt in both parts, the second process failing), the file is read again in one pass."""
    start = binary.tell()
    split = _split_point(binary) if in_parts else None
    run = _Run(dry_run=True, batch_size=BATCH_SIZE, writer=None, progress=progress)
    second, again = None, False
    with transaction.atomic(), _no_cycle_collection():
        tally = FileTally(run.stages, timezone.get_default_timezone())
        books = share_books()  # held open while the months are judged, as the import holds them
        try:
            found = run.reader.header(binary, errors="strict", limit=None if split is None else split - start)
            if found is None:
                return None  # a bad header: the stages report it
            reader, columns, width, _line = found
            if split is not None:
                second = _SecondPart(tally, binary.fileno(), split, columns=columns, width=width)
            began = time.monotonic()
            tally.take(reader, columns, width=width, batch_size=BATCH_SIZE, counted=run.reader.counted)
            if run.reader.counter.nul:
                return None  # NUL is not text: the stages report its rows
            if second is not None:
                # As long as the first part took, twice, and a grace more: the second is no longer than the first;
                # a process that is stuck (or its machine swapping) is stopped, and the file read again.
                outcome, part = second.outcome(patience=2 * (time.monotonic() - began) + SECOND_PART_GRACE)
                if outcome == "declined":
                    return None
                if outcome == "failed":
                    name = getattr(binary, "name", "a file")
                    logger.warning("the second part of %s failed (%s): it is read again in one pass", name, part)
                    raise ReadAgain
                rows, part = part
                run.result.rows_read += rows
                tally.merge(part)
            points = tally.finish(books)
        except (Declined, UnicodeDecodeError):  # not UTF-8 (the header's bytes too): the stages report its rows
            return None
        except ReadAgain:
            again = True
        finally:
            if second is not None:
                second.stop()
            transaction.set_rollback(True)
    if again:
        binary.seek(start)
        return _tallied(binary, progress, in_parts=False)
    months = sorted({month for by_month in points.values() for month in by_month})
    return FilePoints(run.result, months, points)


def _split_point(binary: IO[bytes]) -> int | None:
    """Where a file is read in two parts at once: the start of the first line after its middle. None when it is
    small (SPLIT_BYTES), not a file, the process has one processor or runs threads (which a fork would not carry),
    or when a line break may not end a row: the file holds a quote anywhere (a quoted field may hold a line
    break; the whole file is searched, at memory speed)."""
    if not _can_fork():
        return None
    try:
        fd = binary.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        return None
    start, size = binary.tell(), os.fstat(fd).st_size
    if size - start < SPLIT_BYTES:
        return None
    offset = start
    while chunk := os.pread(fd, 1 << 20, offset):
        if b'"' in chunk:
            return None
        offset += len(chunk)
    middle = start + (size - start) // 2
    after = os.pread(fd, 1 << 16, middle).find(b"\n")
    return None if after < 0 else middle + after + 1


def _can_fork() -> bool:
    """Whether a second process would run beside this one, and a fork copies all this process runs (one thread)."""
    return len(os.sched_getaffinity(0)) >= 2 and threading.active_count() == 1


class _FileRange(io.RawIOBase):
    """A file from `offset` on, read by position (the process it is in shares the file's offset with another)."""

    def __init__(self, fd: int, offset: int) -> None:
        self.fd = fd
        self.offset = offset

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = os.pread(self.fd, len(buffer), self.offset)
        buffer[: len(data)] = data
        self.offset += len(data)
        return len(data)


class _SecondPart:
    """The rows of a file from `split` to its end, tallied by a process of its own. Forked, it starts with the
    first part's tally as read before any row (the program, the stores, the tiers) and asks the database nothing:
    it sends back what it found (FileTally.part), "declined" when the one pass cannot judge its rows, or "failed"."""

    def __init__(self, tally: FileTally, fd: int, split: int, *, columns: dict[str, int], width: int) -> None:
        context = multiprocessing.get_context("fork")
        self.receiver, sender = context.Pipe(duplex=False)
        self.process = context.Process(
            target=_tally_second_part, args=(tally, fd, split, columns, width, sender), daemon=True
        )
        self.process.start()
        sender.close()

    def outcome(self, *, patience: float) -> tuple[str, object]:
        """What the second process sent, waiting at most `patience` seconds for it to start sending."""
        try:
            if not self.receiver.poll(patience):
                return "failed", f"no answer in {patience:.0f} seconds"
            return self.receiver.recv()
        except EOFError:  # it ended without a word
            self.process.join()
            return "failed", f"exit code {self.process.exitcode}"

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join()
        self.receiver.close()


def _tally_second_part(tally: FileTally, fd: int, split: int, columns: dict[str, int], width: int, sender) -> None:
    """In the second process: the file's rows from `split`, tallied, sent back (see _SecondPart)."""

    def no_queries(*args):
        raise RuntimeError("the second part of a file asks the database nothing")

    rows = 0

    def counted(more: int) -> None:
        nonlocal rows
        rows += more

    try:
        with connection.execute_wrapper(no_queries):
            counter = _CountingReader(_FileRange(fd, split))
            # No byte-order mark to drop: that is at the start of the file, in the first part.
            text = io.TextIOWrapper(io.BufferedReader(counter, 1 << 16), encoding="utf-8", errors="strict", newline="")
            tally.deferring = True
            tally.take(csv.reader(text, strict=True), columns, width=width, batch_size=BATCH_SIZE, counted=counted)
            outcome = ("declined", None) if counter.nul else ("part", (rows, tally.part()))
    except (Declined, UnicodeDecodeError):
        outcome = ("declined", None)
    except Exception as failure:  # any failure here: the file is read again in one pass
        outcome = ("failed", repr(failure))
    sender.send(outcome)
    sender.close()


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Python's cycle collector paused: the one pass makes no reference cycles, and the collector would walk its
    growing tally (a tuple per receipt) again and again as it grows (measured: a third of the pass's time)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _staged(binary: IO[bytes], progress) -> FilePoints:
    """The import's stages on the file, rolled back."""
    run = _Run(dry_run=True, batch_size=BATCH_SIZE, writer=None, progress=progress)
    points: dict[tuple[str, str], dict[dt.date, int]] = {}
    months: set[dt.date] = set()
    with transaction.atomic(), _import_settings():
        if run.compute(binary, stored=False):
            run.report(counts=False)  # the bad rows only: a report has no warnings or counts of writes
            if run.result.ok:
                for member, name, month, value in run.stages.points_by_month():
                    points.setdefault((member, name), {})[month] = value
                    months.add(month)
        run.stages.drop()
        transaction.set_rollback(True)
    return FilePoints(run.result, sorted(months), points)


@contextmanager
def _import_settings() -> Iterator[None]:
    """On PostgreSQL, for the import's transaction: foreign keys checked at the end of each statement (while
    the rows they look up are in the buffer cache, rather than all at the commit), and memory enough for the
    stages' hash joins and the roll-up's grouping not to spill to disk. Deferred again afterwards."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET LOCAL work_mem = '64MB'")
    try:
        yield
    finally:
        if not connection.needs_rollback:
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")


__all__ = [
    "CopyWriter",
    "FilePoints",
    "ImportProgress",
    "ImportResult",
    "LineMessage",
    "OrmWriter",
    "RowError",
    "file_points",
    "import_transactions",
    "parse_member_number",
    "parse_moment",
    "parse_receipt",
    "parse_row_amount",
]
