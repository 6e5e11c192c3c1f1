"""The set-based stages of an import: staged rows checked, typed, matched and computed by a few SQL statements.

The file's rows are in a temporary table (`imp_row`, filled by transactions.importing). From there:

1. `type_rows`: ONE statement checks and types every row (member number, receipt, amount, moment, store, kind),
   naming every problem of a bad row, and finds the transaction already stored under its receipt.
2. `stop_rows`: rows the recording service refuses whatever else they hold: a moment in the future
   (`transactions.services.check_moment`, asked of the few rows near now) and a closed month
   (`rewards.services.books.ClosedBooks`, asked once per distinct month). `ledger_months`: the months the
   write needs, which the importer has made in the partitioned ledger before going on.
3. `select_new_rows`: duplicates by set operations (a receipt stored before, or repeated in the file), and the
   rows to write, with their customer (stored, or one the import enrols), tier multiplier, rule version and
   earning key (the rule version, amount, promotion context and tier multiplier: all `earn_fields` reads).
4. `compute_earnings`: `rewards.services.earning.earn_fields`, the till's own, once per DISTINCT earning key
   (tens of thousands for a million rows); the results are loaded into `imp_earn` and joined back.
5. `compute_refunds`: the refunds (a few per cent of rows) in file order with the till's refund rules
   (`check_refund`) and `reversal_entry`, on their purchases found by set operations.
6. `write`: customers, their enrolment bonuses, transactions and ledger entries by INSERT ... SELECT (ids drawn
   from the tables' own sequences), then the roll-ups once (`fold_into_rollup`, `fold_into_liability`).

Nothing in here is a second copy of a business rule: every decision about points, refunds, moments and
closed months is made by the code the till uses, called per distinct key or on the few rows that need it.
"""

# S608: this module builds SQL from the models' table and column names and its own constants; every value
# from a file travels as a parameter or through COPY.
# ruff: noqa: S608

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from customers.models import Customer
from rewards import engine
from rewards.local_time import local_midnight
from rewards.models import PointsEntry, RuleVersion
from rewards.partitions import claim_entries
from rewards.selectors import RuleTimeline
from rewards.services.bonuses import enrolment_bonus_entries
from rewards.services.books import ClosedBooks
from rewards.services.earning import archived_refusal, earn_fields, purchase_context, reversal_entry
from rewards.services.ledger import fold_into_rollup
from rewards.services.liability import fold_into_liability

from .amounts import max_amount
from .import_rows import MAX_MEMBER_NUMBER, MAX_NAME, MAX_RECEIPT, day_offsets
from .import_sql import AMOUNT_PATTERN, MEMBER_PATTERN, Dialect, quote
from .models import Store, Transaction
from .services import check_moment, check_refund

PURCHASE, REFUND = Transaction.Kind.PURCHASE.value, Transaction.Kind.REFUND.value
IMPORT = Transaction.Source.IMPORT.value
EARN, REVERSAL = PointsEntry.Kind.EARN.value, PointsEntry.Kind.REVERSAL.value
# The file's columns as staged (imp_row), in the order of the header's names.
STAGED_COLUMNS = (
    "customer_id",
    "customer_name",
    "transaction_id",
    "amount",
    "occurred_at",
    "store",
    "kind",
    "refund_of",
)
# Earning keys without a promotion context or tier multiplier carry these (joins on them stay equi-joins).
NO_DAY, NO_STORE, NO_MULTIPLIER = "0001-01-01", "", "1"
TEMP_TABLES = (
    "imp_row", "imp_moment", "imp_typed", "imp_stop", "imp_repeat", "imp_new", "imp_customer", "imp_version",
    "imp_earn", "imp_refund", "imp_refunded", "imp_ids", "imp_day", "imp_closed", "imp_txn_rows", "imp_entry_rows",
    "imp_refs",
)  # fmt: skip
# The refund rules' refusals (transactions.services.check_refund) as a line of the file says them: the
# purchase by its receipt, the customers by member number. Others say the service's message.
REFUND_WORDING = {
    "exceeds_purchase": "refund of {amount} exceeds what is left of purchase {refund_of} ({left})",
    "other_customer": "refund_of {refund_of} is a purchase of customer {purchase_customer}, not {customer}",
}


@dataclass(frozen=True)
class Problem:
    line: int
    reason: str


@dataclass
class Counts:
    purchases: int = 0
    refunds: int = 0
    duplicates: int = 0
    customers: int = 0
    points_earned: int = 0
    points_reversed: int = 0


class Stages:
    """The stages of one import (or one `points_report --file`) on one connection, in its transaction."""

    def __init__(self, *, stamp: dt.datetime, batch_size: int, keep: int, dialect: Dialect) -> None:
        self.stamp = stamp
        self.batch_size = batch_size
        self.keep = keep  # how many problems of each kind to fetch (the first ones, by line)
        self.sql = dialect
        self.zone = timezone.get_default_timezone_name()
        self.timeline = RuleTimeline()
        self.versions: dict[int, RuleVersion] = {version.pk: version for version in self.timeline.versions}
        self.first_bonus: int | None = None  # the first enrolment bonus entry written, if any

    # -- plumbing ----------------------------------------------------------------------------------

    def run(self, sql: str, params: list | tuple = ()) -> Any:
        cursor = connection.cursor()
        cursor.execute(sql, list(params))
        return cursor

    def rows(self, sql: str, params: list | tuple = ()) -> list[tuple]:
        with self.run(sql, params) as cursor:
            return cursor.fetchall()

    def value(self, sql: str, params: list | tuple = ()):
        with self.run(sql, params) as cursor:
            return cursor.fetchone()[0]

    def create(self, table: str, select: str, params: list | tuple = (), *, analyze: bool = True) -> None:
        """A temporary table from a SELECT, with statistics for the joins that read it (autovacuum never analyses
        temporary tables)."""
        self.run(f"CREATE TEMP TABLE {table}{self.sql.temp_suffix} AS {select}", params).close()
        if analyze:
            self.analyze(table)

    def analyze(self, table: str) -> None:
        if self.sql.vendor == "postgresql":
            self.run(f"ANALYZE {table}").close()

    def load(self, table: str, columns: str, rows: list[tuple]) -> None:
        """A temporary table filled from Python (results per distinct key, per refund)."""
        self.run(f"CREATE TEMP TABLE {table} ({columns}){self.sql.temp_suffix}").close()
        if rows:
            names = [column.split()[0] for column in re.split(r",(?![^()]*\))", columns)]
            self.insert_rows(table, names, rows)
        self.analyze(table)

    def insert_rows(self, table: str, names: list[str], rows) -> None:
        """Rows from Python into a table: COPY on PostgreSQL, executemany elsewhere."""
        with connection.cursor() as cursor:
            if self.sql.vendor == "postgresql":
                with cursor.cursor.copy(f"COPY {table} ({', '.join(names)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                placeholders = ", ".join(["%s"] * len(names))
                cursor.executemany(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({placeholders})", rows)

    def drop(self) -> None:
        for table in TEMP_TABLES:
            self.run(f"DROP TABLE IF EXISTS {table}").close()

    def moment_param(self, moment: dt.datetime):
        """A moment as this database compares it with stored ones (text on SQLite)."""
        return connection.ops.adapt_datetimefield_value(moment)

    def moment_value(self, value) -> dt.datetime:
        """A moment read back from this database, aware, in UTC."""
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        return value if timezone.is_aware(value) else value.replace(tzinfo=dt.UTC)

    # -- 0. the staging table --------------------------------------------------------------------------

    def create_staging(self) -> None:
        self.drop()
        columns = ", ".join(f"{name} text NOT NULL DEFAULT ''" for name in STAGED_COLUMNS)
        self.run(f"CREATE TEMP TABLE imp_row (line integer NOT NULL, {columns}){self.sql.temp_suffix}").close()

    # -- 1. checking and typing every row -----------------------------------------------------------

    def type_rows(self, *, parse_moment, tz: dt.tzinfo, stored: bool = True) -> None:
        """imp_typed: every staged row typed, with every problem of a bad row (`problems`), and what is
        stored under its receipt at its store (unless `stored` is false: a report of the file alone)."""
        sql, trim = self.sql, self.sql.trim
        fence = sql.fence
        fast = sql.fast_moment("m") if sql.types_moments else "1 = 0"
        # One pass: the distinct local days of the moments the database types itself ("D2025-01-31"), and the
        # distinct texts of the others ("T..."), which parse_moment reads once each.
        found = self.rows(
            f"SELECT DISTINCT CASE WHEN {fast} THEN 'D' || substr(m, 1, 10) ELSE 'T' || m END "
            f"FROM (SELECT {trim('occurred_at')} AS m FROM imp_row{fence}) AS texts WHERE m <> ''"
        )
        parsed, days = [], []
        for (key,) in found:
            if key[0] == "D":
                days.append(day_offsets(key[1:], tz))
                continue
            try:
                parsed.append((key[1:], self.moment_param(parse_moment(key[1:]))))
            except ValueError:  # RowError: not a date; typed as NULL, reported below
                parsed.append((key[1:], None))
        if sql.types_moments:
            self.load("imp_day", "day text, valid integer, uniform integer, utc_offset interval", days)
        moment_type = "timestamptz" if sql.vendor == "postgresql" else "text"
        self.load("imp_moment", f"m text, moment {moment_type}", parsed)

        default = Store.objects.filter(is_default=True).values_list("code", flat=True).first()
        if sql.types_moments:
            # A fast-pattern text: with its offset as it says; local on a day without a daylight-saving change
            # by that day's offset (zoneinfo's, from Python); on a day with one, read as zoneinfo reads it.
            with_offset = (
                "(right(v.m, 1) = 'Z' OR (length(v.m) > 16 AND substr(v.m, length(v.m) - 5, 1) IN ('+', '-')))"
            )
            typed_moment = (
                f"CASE WHEN NOT v.fast THEN o.moment WHEN d.valid = 0 THEN NULL "
                f"WHEN {with_offset} THEN CAST(v.m AS timestamptz) "
                f"WHEN d.uniform = 1 THEN (CAST(v.m AS timestamp) - d.utc_offset) AT TIME ZONE 'UTC' "
                f"ELSE {sql.local_moment('v.m', self.zone)} END"
            )
            day_join = "LEFT JOIN imp_day d ON v.fast AND d.day = substr(v.m, 1, 10) "
        else:
            typed_moment, day_join = "o.moment", ""
        amount_ok = sql.matches("v.amount", AMOUNT_PATTERN)
        amount_ok_outer = sql.matches("w.amount", AMOUNT_PATTERN)
        limit = max_amount()
        member_ok = f"(length(w.member) <= {MAX_MEMBER_NUMBER} AND {sql.matches('w.member', MEMBER_PATTERN)})"

        def problem(condition: str, message: str) -> str:
            condition = condition.replace("v.", "w.").replace("typed.", "w.typed_")
            return f"CASE WHEN {condition} THEN '; ' || {message} ELSE '' END"

        # Every problem of a bad row, each checked on its own, in the order the row-by-row parser named them.
        problems = " || ".join(
            [
                problem("v.member = ''", "'customer_id is missing'"),
                problem(
                    f"v.member <> '' AND NOT {member_ok}",
                    f"'customer_id ''' || substr(w.member, 1, 40) || ''' is not a member number (letters, digits, "
                    f"''-'' or ''_'', at most {MAX_MEMBER_NUMBER} characters)'",
                ),
                problem("v.receipt = ''", "'transaction_id is missing'"),
                problem(
                    f"length(v.receipt) > {MAX_RECEIPT}", f"'transaction_id is longer than {MAX_RECEIPT} characters'"
                ),
                problem("v.amount = ''", "'Amount is missing'"),
                problem(
                    f"v.amount <> '' AND NOT {amount_ok_outer}",
                    "'Amount must be a number like 12.50, not ''' || substr(w.amount, 1, 20) || ''''",
                ),
                problem(
                    f"{amount_ok_outer} AND {sql.exceeds('w.typed_amount')}",
                    f"'Amount ' || w.amount || ' is larger than the largest allowed ({limit})'",
                ),
                problem("v.m = ''", "'occurred_at is missing'"),
                problem(
                    "v.m <> '' AND typed.moment IS NULL",
                    "'occurred_at ''' || substr(w.m, 1, 40) || ''' is not a date (2025-01-31) or date-time "
                    "(2025-01-31T23:30:00)'",
                ),
                problem("v.store = '' AND typed.store_id IS NULL", "'store is missing and there is no default store'"),
                problem(
                    "v.store <> '' AND typed.store_id IS NULL",
                    "'store ''' || substr(w.store, 1, 40) || ''' is not a known store code'",
                ),
                problem(
                    f"v.kind IN ('', '{PURCHASE}') AND v.refund_of <> ''",
                    "'refund_of is only for rows of kind ''refund'''",
                ),
                problem(f"v.kind = '{REFUND}' AND v.refund_of = ''", "'refund_of is missing'"),
                problem(
                    f"v.kind = '{REFUND}' AND length(v.refund_of) > {MAX_RECEIPT}",
                    f"'refund_of is longer than {MAX_RECEIPT} characters'",
                ),
                problem(
                    f"v.kind NOT IN ('', '{PURCHASE}', '{REFUND}')",
                    "'kind ''' || substr(w.kind, 1, 20) || ''' is neither ''purchase'' nor ''refund'''",
                ),
                problem(f"length(v.name) > {MAX_NAME}", f"'customer_name is longer than {MAX_NAME} characters'"),
            ]
        )
        trimmed = ", ".join(
            [
                "line",
                f"{trim('customer_id')} AS member",
                f"{trim('customer_name')} AS name",
                f"{trim('transaction_id')} AS receipt",
                f"{trim('amount')} AS amount",
                f"{trim('occurred_at')} AS m",
                f"{trim('store')} AS store",
                f"lower({trim('kind')}) AS kind",
                f"{trim('refund_of')} AS refund_of",
            ]
        )
        # What is stored under the row's receipt (not looked at by a report of the file alone).
        stored_on = "x.store_id = w.typed_store_id AND x.receipt_number = w.receipt" if stored else "1 = 0"
        # Layered, each layer computed once per row (fence: PostgreSQL would otherwise repeat a layer's
        # expressions wherever the next one names them).
        typed = (
            f"SELECT v.*, CASE WHEN {amount_ok} THEN {sql.amount('v.amount')} END AS typed_amount, "
            f"{typed_moment} AS typed_moment, s.id AS typed_store_id, s.code AS typed_store_code "
            f"FROM (SELECT t.*, {sql.fast_moment('t.m') if sql.types_moments else '1 = 0'} AS fast "
            f"FROM (SELECT {trimmed} FROM imp_row{fence}) AS t{fence}) AS v "
            f"LEFT JOIN imp_moment o ON NOT v.fast AND o.m = v.m {day_join}"
            f"LEFT JOIN transactions_store s ON s.code = (CASE WHEN v.store = '' THEN %s ELSE v.store END){fence}"
        )
        self.create(
            "imp_typed",
            f"SELECT w.line, w.member, w.name, w.receipt, w.typed_amount AS amount, w.typed_moment AS moment, "
            f"w.typed_store_id AS store_id, w.typed_store_code AS store_code, "
            f"CASE WHEN w.kind = '' THEN '{PURCHASE}' ELSE w.kind END AS kind, w.refund_of, "
            f"NULLIF(substr({problems}, 3), '') AS problems, x.id AS stored_id, xc.member_number AS stored_member, "
            f"{sql.money_text('x.amount')} AS stored_amount, x.occurred_at AS stored_moment, x.kind AS stored_kind, "
            f"COALESCE(xr.receipt_number, '') AS stored_refund_of "
            f"FROM ({typed}) AS w "
            f"LEFT JOIN transactions_transaction x ON {stored_on} "
            f"LEFT JOIN customers_customer xc ON xc.id = x.customer_id "
            f"LEFT JOIN transactions_transaction xr ON xr.id = x.refund_of_id",
            [*sql.exceeds_params(limit), default],
        )

    # -- 2. rows the recording service refuses -----------------------------------------------------

    def stop_rows(self, books: ClosedBooks) -> None:
        """imp_stop: (line, reason) of good rows with a moment in the future or in a closed month."""
        self.run(f"CREATE TEMP TABLE imp_stop (line integer PRIMARY KEY, reason text){self.sql.temp_suffix}").close()
        # check_moment decides; the database only narrows the question to the rows near now.
        near = self.moment_param(timezone.now() - dt.timedelta(days=1))
        stops = []
        for line, moment, kind in self.rows(
            "SELECT line, moment, kind FROM imp_typed WHERE problems IS NULL AND moment > %s", [near]
        ):
            moment = self.moment_value(moment)
            try:
                check_moment(moment, kind=kind)
            except ValidationError as refusal:
                stops.append((line, f"occurred_at {moment.isoformat()}: {said(refusal)}"))
        if stops:
            self.insert_rows("imp_stop", ["line", "reason"], stops)
        if books.through is not None:
            # Whether a month is closed, and the refusal's words, are the books' (once per distinct month).
            bound = self.moment_param(local_midnight(books.first_open_month) + dt.timedelta(days=1))
            month = self.sql.local_month("moment", self.zone)
            months = self.rows(
                f"SELECT DISTINCT {month} FROM imp_typed WHERE problems IS NULL AND moment < %s", [bound]
            )
            closed = []
            for (value,) in months:
                first = _month(value)
                if books.month_closed(first):
                    closed.append((str(value), books.refusal(local_midnight(first), field=None).message))
            if closed:
                self.load("imp_closed", "month text, reason text", closed)
                self.run(
                    f"INSERT INTO imp_stop (line, reason) SELECT t.line, c.reason FROM imp_typed t "
                    f"JOIN imp_closed c ON c.month = CAST({month} AS text) WHERE t.problems IS NULL AND t.moment < %s "
                    f"AND NOT EXISTS (SELECT 1 FROM imp_stop s WHERE s.line = t.line)",
                    [bound],
                ).close()
                self.run("DROP TABLE imp_closed").close()
        self.analyze("imp_stop")

    GOOD = "t.problems IS NULL AND NOT EXISTS (SELECT 1 FROM imp_stop s WHERE s.line = t.line)"

    def ledger_months(self) -> list[dt.date]:
        """The local months the write may date ledger entries in: those of the good rows (a purchase's earn and a
        refund's reversal are dated at the row's moment) and the import's own (enrolment bonuses), so that the
        ledger's partitions can be made before the write (rewards.partitions.ensure_months_apart)."""
        month = self.sql.local_month("d.moment", self.zone)
        found = self.rows(
            f"SELECT DISTINCT {month} FROM (SELECT t.moment FROM imp_typed t WHERE {self.GOOD} "
            f"UNION ALL SELECT %s) AS d",
            [self.moment_param(self.stamp)],
        )
        return sorted(_month(value) for (value,) in found)

    # -- 3. duplicates, customers, versions, earning keys ------------------------------------------

    def select_new_rows(self) -> None:
        """imp_repeat: receipts repeated in the file (not stored); imp_new: the rows to write."""
        self.create(
            "imp_repeat",
            f"SELECT t.store_id, t.receipt, min(t.line) AS first_line FROM imp_typed t "
            f"WHERE {self.GOOD} AND t.stored_id IS NULL GROUP BY t.store_id, t.receipt HAVING count(*) > 1",
        )
        versions = sorted(self.timeline.versions, key=lambda version: version.effective_from)
        self.load(
            "imp_version",
            "id integer, starts "
            + ("timestamptz" if self.sql.vendor == "postgresql" else "text")
            + ", ends "
            + ("timestamptz" if self.sql.vendor == "postgresql" else "text")
            + ", promotions integer",
            [
                (
                    version.pk,
                    self.moment_param(version.effective_from),
                    self.moment_param(versions[index + 1].effective_from) if index + 1 < len(versions) else None,
                    1 if self.timeline.rule_of(version).promotions else 0,
                )
                for index, version in enumerate(versions)
            ],
        )
        sql = self.sql
        # Imported purchases earn at the tier each customer holds when the import starts: an import does not
        # move customers up as it goes (the daily review_tiers command catches up on it).
        multiplier = sql.multiplier_text("tr.multiplier")
        self.create(
            "imp_new",
            f"SELECT t.line, t.member, t.name, t.receipt, t.amount, t.moment, t.store_id, t.store_code, t.kind, "
            f"t.refund_of, c.id AS customer_id, "
            f"CASE WHEN tr.multiplier IS NULL OR tr.multiplier = 1 THEN '{NO_MULTIPLIER}' ELSE {multiplier} END "
            f"AS multiplier, v.id AS version_id, "
            f"CASE WHEN v.promotions = 1 THEN CAST({sql.local_day('t.moment', self.zone)} AS text) "
            f"ELSE '{NO_DAY}' END AS day, "
            f"CASE WHEN v.promotions = 1 THEN COALESCE(s.code, '') ELSE '{NO_STORE}' END AS context_store "
            f"FROM imp_typed t "
            f"LEFT JOIN imp_repeat r ON r.store_id = t.store_id AND r.receipt = t.receipt "
            f"LEFT JOIN customers_customer c ON c.member_number = t.member "
            f"LEFT JOIN rewards_customertier ct ON ct.customer_id = c.id "
            f"LEFT JOIN rewards_tier tr ON tr.id = ct.tier_id "
            f"LEFT JOIN imp_version v ON t.kind = '{PURCHASE}' AND t.moment >= v.starts "
            f"AND (v.ends IS NULL OR t.moment < v.ends) "
            f"LEFT JOIN transactions_store s ON s.id = t.store_id "
            f"WHERE {self.GOOD} AND t.stored_id IS NULL AND (r.first_line IS NULL OR r.first_line = t.line) "
            f"ORDER BY t.line",
        )
        # The customers the import enrols, named by the first row that names them.
        self.create(
            "imp_customer",
            "SELECT f.member, CASE WHEN n.name <> '' THEN n.name ELSE n.member END AS name, f.first_line, "
            "CAST(NULL AS integer) AS customer_id "
            "FROM (SELECT member, min(line) AS first_line FROM imp_new WHERE customer_id IS NULL GROUP BY member) f "
            "JOIN imp_new n ON n.line = f.first_line",
        )

    # -- 4. earning, once per distinct key ---------------------------------------------------------

    def compute_earnings(self) -> None:
        """imp_earn: earn_fields per distinct (rule version, amount, promotion context, tier multiplier)."""
        keys = self.rows(
            f"SELECT DISTINCT version_id, amount, day, context_store, multiplier FROM imp_new "
            f"WHERE kind = '{PURCHASE}' AND version_id IS NOT NULL"
        )
        results = []
        for version_id, amount, day, store_code, multiplier_text in keys:
            multiplier = Decimal(1) if multiplier_text == NO_MULTIPLIER else Decimal(multiplier_text)
            try:
                fields = self.earning(
                    version_id, Decimal(str(amount)), on=dt.date.fromisoformat(str(day)[:10]), store_code=store_code,
                    multiplier=multiplier,
                )  # fmt: skip
            except engine.TooManyPoints as refusal:
                results.append(
                    (version_id, str(amount), day, store_code, multiplier_text, None, None, 0, refusal.message)
                )
                continue
            results.append(
                (version_id, str(amount), day, store_code, multiplier_text, fields.points, json.dumps(fields.facts),
                 1 if fields.stamped else 0, None)
            )  # fmt: skip
        amount_type = "numeric(12, 2)" if self.sql.vendor == "postgresql" else "text"
        self.load(
            "imp_earn",
            f"version_id integer, amount {amount_type}, day text, context_store text, multiplier text, "
            f"points bigint, facts text, stamped integer, refusal text",
            results,
        )

    def earning(self, version_id: int, amount: Decimal, *, on: dt.date, store_code: str, multiplier: Decimal):
        """earn_fields of one earning key: a purchase of `amount` under the rule version, on the local day `on` at
        the store, at the tier multiplier. engine.TooManyPoints when one entry cannot hold the points."""
        rule, context = self.terms(version_id, on=on, store_code=store_code)
        return earn_fields(amount=amount, rule=rule, context=context, tier_multiplier=multiplier)

    def terms(self, version_id: int, *, on: dt.date, store_code: str) -> tuple[engine.Rule, engine.Context]:
        """A purchase's rule and its context as the till builds it (purchase_context, from any moment of that local
        day; the day and store are read only when the rule has promotions)."""
        rule = self.timeline.rule_of(self.versions[version_id])
        if not rule.promotions:
            return rule, engine.Context()
        return rule, purchase_context(rule, occurred_at=local_midnight(on), store_code=store_code)

    EARN_JOIN = (
        "LEFT JOIN imp_earn e ON e.version_id = n.version_id AND e.amount = n.amount AND e.day = n.day "
        "AND e.context_store = n.context_store AND e.multiplier = n.multiplier"
    )

    # -- 5. refunds, in file order -----------------------------------------------------------------

    def compute_refunds(self, *, lock: bool) -> None:
        """imp_refund: each refund row's outcome (its reversal, or why not) by the till's refund rules, in file
        order per purchase; imp_refunded: what each purchase has refunded in the end."""
        if lock and self.sql.vendor == "postgresql":
            # The stored purchases refunded here, locked against a till refunding them meanwhile.
            self.run(
                f"SELECT x.id FROM transactions_transaction x JOIN imp_new r ON x.store_id = r.store_id "
                f"AND x.receipt_number = r.refund_of WHERE r.kind = '{REFUND}' AND x.kind = '{PURCHASE}' "
                f"ORDER BY x.id FOR UPDATE OF x"
            ).close()
        # A refund's purchase: a good purchase earlier in the file, else a stored one.
        rows = self.rows(
            f"SELECT r.line, r.member, r.amount, r.moment, r.refund_of, r.store_code, "
            f"p.line, p.member, p.amount, p.moment, p.version_id, e.facts, "
            f"x.id, xc.member_number, x.amount, x.refunded_amount, x.occurred_at, xe.id, xe.rule_version_id, xe.facts "
            f"FROM imp_new r "
            f"LEFT JOIN imp_new p ON p.store_id = r.store_id AND p.receipt = r.refund_of AND p.kind = '{PURCHASE}' "
            f"AND p.line < r.line "
            f"LEFT JOIN imp_earn e ON e.version_id = p.version_id AND e.amount = p.amount AND e.day = p.day "
            f"AND e.context_store = p.context_store AND e.multiplier = p.multiplier "
            f"LEFT JOIN transactions_transaction x ON x.store_id = r.store_id AND x.receipt_number = r.refund_of "
            f"AND x.kind = '{PURCHASE}' "
            f"LEFT JOIN customers_customer xc ON xc.id = x.customer_id "
            f"LEFT JOIN rewards_pointsentry xe ON xe.transaction_id = x.id AND xe.kind = '{EARN}' "
            f"WHERE r.kind = '{REFUND}' ORDER BY r.line"
        )
        state: dict[tuple, _Purchase] = {}
        outcomes = []
        for (
            line, member, amount, moment, refund_of, store_code,
            p_line, p_member, p_amount, p_moment, p_version, p_facts,
            x_id, x_member, x_amount, x_refunded, x_moment, x_earn, x_version, x_facts,
        ) in rows:  # fmt: skip
            amount, moment = _money(amount), self.moment_value(moment)
            purchase = None
            if p_line is not None and p_facts is not None:  # earlier in the file, and it earns
                key = ("line", p_line)
                purchase = state.get(key) or _Purchase(
                    line=p_line, stored_id=None, member=p_member, amount=_money(p_amount), refunded=Decimal("0.00"),
                    moment=self.moment_value(p_moment), earn_id=None, version_id=p_version, facts=json.loads(p_facts),
                )  # fmt: skip
            elif x_id is not None:
                key = ("stored", x_id)
                facts = json.loads(x_facts) if isinstance(x_facts, str) else (x_facts or {})
                purchase = state.get(key) or _Purchase(
                    line=None, stored_id=x_id, member=x_member, amount=_money(x_amount), refunded=_money(x_refunded),
                    moment=self.moment_value(x_moment), earn_id=x_earn, version_id=x_version, facts=facts,
                )  # fmt: skip
            reason = refund_problem(
                purchase, amount=amount, moment=moment, member=member, refund_of=refund_of, store_code=store_code
            )
            if reason:
                outcomes.append((line, reason, None, None, None, None, None, None, None, None))
                continue
            state[key] = purchase
            entry = self.reversal(purchase, amount=amount, moment=moment, receipt=refund_of)
            outcomes.append(
                (line, None, entry.points, entry.note, json.dumps(entry.facts), purchase.line, purchase.stored_id,
                 purchase.earn_id, purchase.version_id, str(amount))
            )  # fmt: skip
            purchase.refunded += amount
        self.load(
            "imp_refund",
            "line integer, reason text, points bigint, note text, facts text, target_line integer, "
            "target_id integer, target_earn_id integer, version_id integer, amount text",
            outcomes,
        )
        self.load(
            "imp_refunded",
            "line integer, stored_id integer, refunded text",
            [(p.line, p.stored_id, f"{p.refunded:.2f}") for p in state.values()],
        )

    def reversal(self, purchase: _Purchase, *, amount: Decimal, moment: dt.datetime, receipt: str) -> PointsEntry:
        """reversal_entry's own entry for a refund, on unsaved stand-ins of the rows it reads."""
        refunded_before = purchase.refunded
        refund = Transaction(amount=amount, occurred_at=moment)
        stand_in = Transaction(amount=purchase.amount, receipt_number=receipt)
        earned = PointsEntry(rule_version=self.versions[purchase.version_id], facts=purchase.facts)
        return reversal_entry(refund=refund, purchase=stand_in, refunded_before=refunded_before, earned=earned)

    # -- what the stages found ----------------------------------------------------------------------

    def problems(self) -> tuple[int, list[Problem]]:
        """Every bad row the stages found: the count, and the first `keep` of them by line."""
        count, found = 0, []

        def take(sql: str, params: list | tuple = (), formatter=None) -> None:
            nonlocal count
            kept, total = self.first_and_count(sql, params)
            count += total
            for row in kept:
                found.append(Problem(row[0], formatter(*row[1:]) if formatter else row[1]))

        take("SELECT line, problems FROM imp_typed WHERE problems IS NOT NULL")
        take("SELECT line, reason FROM imp_stop")
        take(
            f"SELECT t.line, t.receipt, t.store_code, t.member, t.amount, t.moment, t.kind, t.refund_of, "
            f"t.stored_member, t.stored_amount, t.stored_moment, t.stored_kind, t.stored_refund_of "
            f"FROM imp_typed t WHERE {self.GOOD} AND t.stored_id IS NOT NULL AND NOT ({self.SAME_AS_STORED})",
            formatter=self.differs_from_stored,
        )
        repeats = self.value("SELECT count(*) FROM imp_repeat")
        if repeats:
            take(
                f"SELECT t.line, t.receipt, t.store_code, t.member, t.amount, t.moment, t.kind, t.refund_of, "
                f"f.line, f.member, f.amount, f.moment, f.kind, f.refund_of, tb.batch, fb.batch "
                f"FROM imp_typed t JOIN imp_repeat r ON r.store_id = t.store_id AND r.receipt = t.receipt "
                f"AND r.first_line < t.line JOIN imp_typed f ON f.line = r.first_line "
                f"JOIN ({self.BATCHES}) tb ON tb.line = t.line JOIN ({self.BATCHES}) fb ON fb.line = f.line "
                f"WHERE {self.GOOD} AND NOT ({self.SAME_AS_FIRST})",
                [self.batch_size, self.batch_size],
                formatter=self.differs_from_earlier,
            )
        take(
            f"SELECT line, moment FROM imp_new WHERE kind = '{PURCHASE}' AND version_id IS NULL",
            formatter=lambda moment: f"no earning rule is in force at {self.moment_value(moment).isoformat()}",
        )
        take(f"SELECT n.line, e.refusal FROM imp_new n {self.EARN_JOIN} WHERE e.refusal IS NOT NULL")
        take("SELECT line, reason FROM imp_refund WHERE reason IS NOT NULL")
        found.sort(key=lambda problem: problem.line)
        return count, found[: self.keep]

    SAME_AS_STORED = (
        "t.member = t.stored_member AND t.amount = t.stored_amount AND t.moment = t.stored_moment "
        "AND t.kind = t.stored_kind AND t.refund_of = t.stored_refund_of"
    )
    SAME_AS_FIRST = (
        "t.member = f.member AND t.amount = f.amount AND t.moment = f.moment AND t.kind = f.kind "
        "AND t.refund_of = f.refund_of"
    )
    # The batch a good row was read in (the earlier row of a repeated receipt is "on line N" in the same batch).
    BATCHES = "SELECT line, (row_number() OVER (ORDER BY line) - 1) / %s AS batch FROM imp_typed WHERE problems IS NULL"

    def differs_from_stored(self, receipt, store_code, *values) -> str:
        ours, theirs = values[:5], values[5:]
        difference = self.difference(ours, theirs)
        return f"{describe(receipt, store_code)} is already stored, with {difference}"

    def differs_from_earlier(self, receipt, store_code, *values) -> str:
        ours, first_line, theirs, batch, first_batch = values[:5], values[5], values[6:11], values[11], values[12]
        difference = self.difference(ours, theirs)
        if batch == first_batch:
            return f"{describe(receipt, store_code)} is also on line {first_line}, with {difference}"
        return f"{describe(receipt, store_code)} is also earlier in the file, with {difference}"

    def difference(self, ours, theirs) -> str:
        """The first field in which a row differs from the earlier row or stored transaction with its receipt,
        said with the other's value."""
        labels = ("customer_id", "amount", "occurred_at", "kind", "refund_of")
        for index, (label, mine, other) in enumerate(zip(labels, ours, theirs, strict=True)):
            if index == 1:
                mine, other = _money(mine), _money(other)
            elif index == 2:
                mine, other = self.moment_value(mine), self.moment_value(other)
            if mine != other:
                shown = other.isoformat() if isinstance(other, dt.datetime) else other
                return f"{label} {shown or '(none)'}"
        return "no difference"

    def warnings(self) -> tuple[int, list[Problem]]:
        """A name in the file that differs from the customer's enrolled one (once per customer, first line)."""
        sql = (
            "SELECT w.line, w.member, COALESCE(c.name, ic.name), n.name FROM ("
            "SELECT n.member, min(n.line) AS line FROM imp_new n "
            "LEFT JOIN customers_customer c ON c.id = n.customer_id LEFT JOIN imp_customer ic ON ic.member = n.member "
            "WHERE n.name <> '' AND n.name <> COALESCE(c.name, ic.name) GROUP BY n.member) w "
            "JOIN imp_new n ON n.line = w.line "
            "LEFT JOIN customers_customer c ON c.id = n.customer_id LEFT JOIN imp_customer ic ON ic.member = n.member"
        )
        kept, count = self.first_and_count(sql)
        found = [
            Problem(line, f"customer {member} is enrolled as '{enrolled}'; the name '{name}' was not used")
            for line, member, enrolled, name in kept
        ]
        return count, found

    def first_and_count(self, sql: str, params: list | tuple = ()) -> tuple[list[tuple], int]:
        """The first `keep` rows of a query by its first column (a line), and how many it has, in one pass."""
        rows = self.rows(f"SELECT *, count(*) OVER () FROM ({sql}) AS found ORDER BY 1 LIMIT {self.keep}", params)
        return [row[:-1] for row in rows], (rows[0][-1] if rows else 0)

    def counts(self) -> Counts:
        duplicates = self.value(
            f"SELECT count(*) FROM imp_typed t WHERE {self.GOOD} AND t.stored_id IS NOT NULL AND {self.SAME_AS_STORED}"
        ) + self.value(
            f"SELECT count(*) FROM imp_typed t JOIN imp_repeat r ON r.store_id = t.store_id AND r.receipt = t.receipt "
            f"AND r.first_line < t.line JOIN imp_typed f ON f.line = r.first_line "
            f"WHERE {self.GOOD} AND {self.SAME_AS_FIRST}"
        )
        purchases, earned = self.rows(
            f"SELECT count(*), COALESCE(sum(e.points), 0) FROM imp_new n {self.EARN_JOIN} "
            f"WHERE n.kind = '{PURCHASE}' AND e.points IS NOT NULL"
        )[0]
        refunds, reversed_ = self.rows(
            "SELECT count(*), COALESCE(sum(points), 0) FROM imp_refund WHERE reason IS NULL"
        )[0]
        customers = self.value("SELECT count(*) FROM imp_customer")
        return Counts(purchases, refunds, duplicates, customers, int(earned), int(reversed_))

    def points_by_month(self) -> list[tuple[str, str, dt.date, int]]:
        """(member number, name, local month, points) of the rows to write: what purchases earned less what
        refunds reversed, by the month of the row's moment in TIME_ZONE (the monthly report's figure)."""
        month = self.sql.local_month("p.moment", self.zone)
        rows = self.rows(
            f"SELECT p.member, COALESCE(c.name, ic.name, p.member), {month} AS month, sum(p.points) FROM ("
            f"SELECT n.member, n.customer_id, n.moment, e.points FROM imp_new n {self.EARN_JOIN} "
            f"WHERE n.kind = '{PURCHASE}' UNION ALL "
            f"SELECT n.member, n.customer_id, n.moment, rf.points FROM imp_new n JOIN imp_refund rf ON rf.line = n.line"
            f") p LEFT JOIN customers_customer c ON c.id = p.customer_id "
            f"LEFT JOIN imp_customer ic ON ic.member = p.member "
            f"GROUP BY p.member, COALESCE(c.name, ic.name, p.member), {month} ORDER BY 1, 3"
        )
        return [(member, name, _month(value), int(points)) for member, name, value, points in rows]

    # -- 6. writing ---------------------------------------------------------------------------------

    def write(self) -> tuple[int, int]:
        """Write what the stages computed (the caller has found no problem). Returns the customers enrolled
        and the enrolment bonus points given to them."""
        enrolled, bonus_points = self.enrol()
        sql = self.sql
        purchases = f"n.kind = '{PURCHASE}'"
        self.create(
            "imp_ids",
            f"SELECT line, {sql.next_ids('transactions_transaction', 'line')} AS txn_id, "
            f"{sql.next_ids('rewards_pointsentry', 'line')} AS entry_id "
            f"FROM (SELECT line FROM imp_new ORDER BY line) s",
            analyze=False,  # one row per row of imp_new: the planner's estimate from its size is right
        )
        if not self.value("SELECT count(*) FROM imp_ids"):
            return enrolled, bonus_points
        bulk = self.references_checked_in_bulk()
        if bulk:
            # The rows to write are made in private copies of the two tables first, then copied in whole: the
            # bulk checks and the once-only claims read those copies, not the tables just written (reading
            # freshly written rows back out of the ledger's partitions cost seconds per pass).
            for table, rows in self.WRITTEN.items():
                self.run(f"CREATE TEMP TABLE {rows} (LIKE {quote(table)}){self.sql.temp_suffix}").close()
        into = self.WRITTEN if bulk else {}
        customer = "COALESCE(n.customer_id, ic.customer_id)"
        stamp = Param(self.moment_param(self.stamp))
        joins = (
            "JOIN imp_ids i ON i.line = n.line LEFT JOIN imp_customer ic ON ic.member = n.member "
            "LEFT JOIN imp_refund rf ON rf.line = n.line LEFT JOIN imp_ids pi ON pi.line = rf.target_line"
        )
        self.insert_select(
            Transaction,
            {
                "id": "i.txn_id",
                "customer_id": customer,
                "store_id": "n.store_id",
                "kind": "n.kind",
                "amount": "n.amount",
                # A purchase refunded later in the file is written with its refunds counted.
                "refunded_amount": sql.amount(
                    f"CASE WHEN {purchases} THEN COALESCE(rd.refunded, '0.00') ELSE '0.00' END"
                ),
                "occurred_at": "n.moment",
                "receipt_number": "n.receipt",
                "refund_of_id": "COALESCE(pi.txn_id, rf.target_id)",
                "source": f"'{IMPORT}'",
                "recorded_at": Param(self.moment_param(self.stamp)),
            },
            f"FROM imp_new n {joins} LEFT JOIN imp_refunded rd ON rd.line = n.line ORDER BY n.line",
            into=into.get(Transaction._meta.db_table),
        )
        earn = {
            "id": "i.entry_id", "customer_id": customer, "kind": f"'{EARN}'", "points": "e.points",
            "effective_at": "n.moment", "created_at": stamp, "transaction_id": "i.txn_id",
            "rule_version_id": "n.version_id",
            "facts": sql.json("e.facts"), "stamped": "e.stamped = 1",
        }  # fmt: skip
        entries = into.get(PointsEntry._meta.db_table)
        self.insert_select(
            PointsEntry,
            earn,
            f"FROM imp_new n {joins} {self.EARN_JOIN} WHERE {purchases} ORDER BY n.line",
            into=entries,
        )
        reversal = {
            "id": "i.entry_id", "customer_id": customer, "kind": f"'{REVERSAL}'", "points": "rf.points",
            "effective_at": "n.moment", "created_at": stamp, "transaction_id": "i.txn_id",
            "rule_version_id": "rf.version_id", "corrects_id": "COALESCE(pi.entry_id, rf.target_earn_id)",
            "note": "rf.note", "facts": sql.json("rf.facts"),
        }  # fmt: skip
        self.insert_select(
            PointsEntry, reversal, f"FROM imp_new n {joins} WHERE n.kind = '{REFUND}' ORDER BY n.line", into=entries
        )
        if bulk:
            for table, rows in self.WRITTEN.items():
                self.run(f"INSERT INTO {quote(table)} SELECT * FROM {rows} ORDER BY id").close()
            self.verify_references()
            # The claims trigger of the partitioned ledger was silent with the others: its claims, now.
            claim_entries(self.WRITTEN[PointsEntry._meta.db_table])
        # Stored purchases refunded by the file: their refunded amount, computed with their lock held.
        for stored_id, refunded in self.rows(
            "SELECT stored_id, refunded FROM imp_refunded WHERE stored_id IS NOT NULL"
        ):
            Transaction.objects.filter(pk=stored_id).update(refunded_amount=Decimal(refunded))
        low = self.value("SELECT min(entry_id) FROM imp_ids")
        first_entry = low if self.first_bonus is None else min(low, self.first_bonus)
        # The whole import's entries, once: our ids and our stamp (a concurrent till's entry could take an id
        # in the range, never our created_at).
        written = PointsEntry.objects.filter(pk__gte=first_entry, created_at=self.stamp)
        fold_into_rollup(written)
        fold_into_liability(written)
        return enrolled, bonus_points

    # On the bulk path, the private copy of the rows this import writes, per table; and the ids of the rows it
    # created that others may refer to.
    WRITTEN = {"transactions_transaction": "imp_txn_rows", "rewards_pointsentry": "imp_entry_rows"}
    CREATED = {
        **{table: f"SELECT id FROM {rows}" for table, rows in WRITTEN.items()},
        "customers_customer": "SELECT customer_id FROM imp_customer",
    }

    def references_checked_in_bulk(self) -> bool:
        """Whether the foreign keys of the import's transactions and ledger entries are checked in bulk, under
        locks, instead of one trigger per row (on PostgreSQL, when the database role may set
        session_replication_role: a superuser, or a role granted `SET ON PARAMETER session_replication_role`).
        Otherwise the triggers check every row, as for any other write: never weaker, only slower."""
        if self.sql.vendor != "postgresql":
            return False
        try:
            with transaction.atomic():
                self.run("SET LOCAL session_replication_role = replica").close()
        except DatabaseError:
            return False
        return True

    def verify_references(self) -> None:
        """What the foreign-key triggers would have done for the rows just written: lock every referenced row the
        import did not create (FOR KEY SHARE, as the trigger does, so that no one can delete it until the import
        commits), then prove every reference resolves. One pass over the import's copy of each table's written
        rows gathers the distinct references of all its keys, then one statement per key that has any locks and
        counts (a statement per key reading the written rows back out of the table cost seconds each). Then the
        triggers are on again for the rest of the transaction."""
        self.run("SET LOCAL session_replication_role = origin").close()
        for model in (Transaction, PointsEntry):
            table = model._meta.db_table
            keys = [field for field in model._meta.concrete_fields if field.is_relation]
            pairs = ", ".join(f"({number}, t.{quote(field.column)})" for number, field in enumerate(keys))
            self.create(
                "imp_refs",
                f"SELECT DISTINCT v.k, v.ref FROM {self.WRITTEN[table]} t "
                f"CROSS JOIN LATERAL (VALUES {pairs}) AS v (k, ref) WHERE v.ref IS NOT NULL",
            )
            used = {k for (k,) in self.rows("SELECT DISTINCT k FROM imp_refs")}
            for number, field in enumerate(keys):
                if number not in used:
                    continue
                target = field.related_model._meta.db_table
                key = quote(field.target_field.column)
                created = self.CREATED.get(target)
                # The distinct references of the written rows. Those to rows the import created exist (it inserted
                # every one of them in this transaction, where no one else can see them to delete them); the
                # others are locked; what is left over is what no longer exists.
                others = f"SELECT ref FROM imp_refs WHERE k = {number}"
                if created:
                    others += f" AND ref NOT IN (SELECT c FROM ({created}) AS created (c) WHERE c IS NOT NULL)"
                missing = self.value(
                    f"WITH others AS ({others}), "
                    f"locked AS (SELECT r.{key} FROM {quote(target)} r JOIN others ON r.{key} = others.ref "
                    f"ORDER BY r.{key} FOR KEY SHARE OF r) "
                    f"SELECT (SELECT count(*) FROM others) - (SELECT count(*) FROM locked)"
                )
                if missing:
                    raise IntegrityError(
                        f"{missing} imported row(s) of {table} refer to a row of {target} that no longer exists "
                        f"({field.column})"
                    )
            self.run("DROP TABLE imp_refs").close()

    def enrol(self) -> tuple[int, int]:
        """Enrol the new customers, and give them the program's enrolment bonus as enrolling at the till does
        (joined at the import's moment)."""
        count = self.value("SELECT count(*) FROM imp_customer")
        if not count:
            return 0, 0
        self.insert_select(
            Customer,
            {"member_number": "member", "name": "name", "date_joined": Param(self.moment_param(self.stamp))},
            "FROM imp_customer ORDER BY first_line",
        )
        self.run(
            "UPDATE imp_customer SET customer_id = "
            "(SELECT c.id FROM customers_customer c WHERE c.member_number = imp_customer.member)"
        ).close()
        ids = [pk for (pk,) in self.rows("SELECT customer_id FROM imp_customer ORDER BY first_line")]
        bonuses = enrolment_bonus_entries(ids, moment=self.stamp)
        if bonuses:
            for entry in bonuses:
                entry.created_at = self.stamp
            created = PointsEntry.objects.bulk_create(bonuses, batch_size=5000)
            self.first_bonus = min(entry.pk for entry in created)  # folded into the roll-ups with the rest
        return count, sum(entry.points for entry in bonuses)

    def insert_select(self, model, values: dict[str, str | Param], source: str, *, into: str | None = None) -> None:
        """INSERT INTO the model's table (or `into`, a copy of it) SELECT the given expressions (or parameters);
        every other column gets the field's default, as bulk_create would give it, so that a field added to the
        model later needs nothing here."""
        columns, expressions, params = [], [], []
        for field in model._meta.concrete_fields:
            value = values.get(field.column)
            if value is None:
                if field.primary_key:
                    continue
                value = Param(field.get_db_prep_save(field.get_default(), connection))
            columns.append(quote(field.column))
            if isinstance(value, Param):
                expressions.append("%s")
                params.append(value.value)
            else:
                expressions.append(value)
        self.run(
            f"INSERT INTO {into or quote(model._meta.db_table)} ({', '.join(columns)}) "
            f"SELECT {', '.join(expressions)} {source}",
            params,
        ).close()


@dataclass(frozen=True)
class Param:
    """A value passed as a parameter of an INSERT ... SELECT (a default, the import's moment)."""

    value: Any


@dataclass
class _Purchase:
    """A purchase refunds in the file refer to: earlier in the file (line) or stored (stored_id)."""

    line: int | None
    stored_id: int | None
    member: str
    amount: Decimal
    refunded: Decimal
    moment: dt.datetime
    earn_id: int | None
    version_id: int | None
    facts: dict


def _month(value) -> dt.date:
    """A local month as the database hands it back (a date; text on SQLite)."""
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def _money(value) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def describe(receipt: str, store_code: str) -> str:
    return f"transaction {receipt} at store {store_code}"


def refund_problem(purchase: _Purchase | None, *, amount, moment, member, refund_of, store_code) -> str | None:
    """Why a refund row cannot be recorded (the service's refund rules, said for a line), or None."""
    if purchase is None:
        return f"refund_of {refund_of}: no such purchase at store {store_code} (stored, or earlier in this file)"
    if purchase.stored_id is not None and purchase.earn_id is None:  # it left the ledger with its month
        return f"refund_of {refund_of}: {said(archived_refusal(purchase.moment))}"
    try:
        check_refund(
            purchase_kind=PURCHASE,
            purchase_moment=purchase.moment,
            left=purchase.amount - purchase.refunded,
            amount=amount,
            occurred_at=moment,
            customer=member,
            purchase_customer=purchase.member,
        )
    except ValidationError as refusal:
        return "; ".join(said(error, refund_of=refund_of) for error in each(refusal))
    return None


def each(error: ValidationError) -> list[ValidationError]:
    """The single refusals of a (field-keyed) ValidationError."""
    if hasattr(error, "error_dict"):
        return [single for errors in error.error_dict.values() for single in errors]
    return list(error.error_list)


def said(error: ValidationError, **context: str) -> str:
    """A refusal as a line of the import says it: the import's own wording of its code, else the service's
    message in lower case without its full stop."""
    single = each(error)[0] if hasattr(error, "error_dict") or len(error.error_list) > 1 else error
    params = {**(single.params or {}), **context}
    wording = REFUND_WORDING.get(single.code)
    if wording:
        return wording.format(**params)
    message = single.message % params if single.params else single.message
    return message[:1].lower() + message[1:].rstrip(".")
