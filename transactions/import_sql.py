"""The SQL of the set-based import: what differs between PostgreSQL and SQLite, said once.

The import's stages (transactions.import_stages) are the same statements on both databases; the few
expressions that are written differently (a regular expression match, a moment's local day or month, a
money value as text, the next ids of a table, a JSON value) come from a `Dialect`. PostgreSQL is the
production database and the one the speed goals are measured on; SQLite must give the same results.
"""

from __future__ import annotations

import json
import re

from django.db import connection

from customers.models import member_number_validator

from .amounts import PLAIN_AMOUNT

# What Python's str.strip() strips (every character whose str.isspace() is true): a field is trimmed in
# SQL exactly as the row-by-row parser trims it. tests/transactions/test_import_sql.py proves the list.
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)

# A member number (the model's validator) and a plain amount (transactions.amounts), the same patterns in SQL.
MEMBER_PATTERN = member_number_validator.regex.pattern
AMOUNT_PATTERN = "^" + PLAIN_AMOUNT.replace("(?:", "(") + "$"
# The ISO moments PostgreSQL types itself, by their shape with every digit written 0: a date, or a date and a
# time (to the minute or second, after 'T' or a space), with or without an offset ('Z', '+05:30'). Any other
# non-empty text is parsed once per distinct text by transactions.importing.parse_moment.
_TIMES = [f"{sep}00:00{seconds}" for sep in ("T", " ") for seconds in ("", ":00")]
_OFFSETS = ("", "Z", "+00:00", "-00:00")
MOMENT_SHAPES = ("0000-00-00", *(f"0000-00-00{time}{offset}" for time in _TIMES for offset in _OFFSETS))


def quote(name: str) -> str:
    return connection.ops.quote_name(name)


def literal(text: str) -> str:
    """A constant of the import's own (a time zone's name, the whitespace list) as an SQL string literal:
    never a value from a file, which always travels as a parameter."""
    if "\x00" in text:
        raise ValueError("no NUL in an SQL literal")
    return "'" + text.replace("'", "''") + "'"


ZONE_NAME = re.compile(r"[A-Za-z0-9_+\-/]+")


def zone_literal(zone: str) -> str:
    if not ZONE_NAME.fullmatch(zone):
        raise ValueError(f"not a time zone name: {zone!r}")
    return literal(zone)


class Dialect:
    """PostgreSQL's way of saying the import's vendor-specific expressions."""

    vendor = "postgresql"
    # Temporary tables vanish with the import's transaction (they are dropped explicitly too, for tests that
    # run several imports in one transaction).
    temp_suffix = " ON COMMIT DROP"
    # Moments the database types itself; the others go through parse_moment.
    types_moments = True
    # Ends a subquery whose expressions must be computed once per row, not wherever the outer query names them.
    fence = " OFFSET 0"

    def matches(self, expression: str, pattern: str) -> str:
        return f"({expression} ~ '{pattern}')"

    def fast_moment(self, m: str) -> str:
        """Whether PostgreSQL types the moment text `m` itself: one of MOMENT_SHAPES (translate() is several times
        cheaper than a regular expression), with hours, minutes and seconds in range and an offset PostgreSQL
        reads as Python does (at most 14 hours). Whether its date exists is decided per distinct day (day_offsets)."""
        shapes = ", ".join(literal(shape) for shape in MOMENT_SHAPES)
        c = 'COLLATE "C"'
        return (
            f"(translate({m}, '123456789', '000000000') IN ({shapes}) "
            f"AND (length({m}) = 10 OR (substr({m}, 12, 2) {c} <= '23' AND substr({m}, 15, 2) {c} <= '59' "
            f"AND (substr({m}, 17, 1) <> ':' OR substr({m}, 18, 2) {c} <= '59'))) "
            f"AND (length({m}) <= 19 OR right({m}, 1) = 'Z' "
            f"OR (substr({m}, length({m}) - 4, 2) {c} <= '14' AND right({m}, 2) {c} <= '59')))"
        )

    def trim(self, expression: str) -> str:
        return f"btrim({expression}, {literal(WHITESPACE)})"

    def amount(self, text: str) -> str:
        return f"CAST({text} AS numeric(12, 2))"

    def money_text(self, expression: str) -> str:
        """A stored amount as the import compares it with a typed one (numeric here, text on SQLite)."""
        return expression

    def exceeds(self, amount: str) -> str:
        return f"{amount} > %s"

    def exceeds_params(self, limit) -> list:
        return [limit]

    def multiplier_text(self, expression: str) -> str:
        return f"CAST({expression} AS text)"

    def local_day(self, moment: str, zone: str) -> str:
        return f"CAST(({moment} AT TIME ZONE {zone_literal(zone)}) AS date)"

    def local_month(self, moment: str, zone: str) -> str:
        return f"CAST(date_trunc('month', {moment} AT TIME ZONE {zone_literal(zone)}) AS date)"

    def local_moment(self, text: str, zone: str) -> str:
        """A local date-time text (no offset) as a moment, read as Python's zoneinfo reads it (fold=0): a wall time
        repeated by a daylight-saving change is its first occurrence (PostgreSQL's own choice is the second), a
        skipped one is read with the offset before the change (as PostgreSQL does). Several time-zone conversions:
        used only on the days of a change (day_offsets), the others subtract their day's offset."""
        tz = zone_literal(zone)
        local = f"CAST({text} AS timestamp)"
        second = f"({local} AT TIME ZONE {tz})"
        day_before = f"({second} - interval '1 day')"
        # The offset in force a day before (local minus UTC), and the wall time read with it.
        offset_before = f"(({day_before} AT TIME ZONE {tz}) - ({day_before} AT TIME ZONE 'UTC'))"
        first = f"(({local} - {offset_before}) AT TIME ZONE 'UTC')"
        return f"CASE WHEN {first} < {second} AND ({first} AT TIME ZONE {tz}) = {local} THEN {first} ELSE {second} END"

    def json(self, text: str) -> str:
        return f"CAST({text} AS jsonb)"

    def next_ids(self, table: str, order: str) -> str:
        """Ids drawn from the table's own sequence, as a default would draw them: no other writer can take one."""
        # The sequence is named once: resolving it per row (pg_get_serial_sequence) reads the catalog a million times.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
            (sequence,) = cursor.fetchone()
        return f"nextval({literal(sequence)}::regclass)"

    def lock_for_update(self) -> str:
        return " FOR UPDATE"

    def any_of(self, expression: str) -> str:
        """Whether `expression` is one of a list of values passed as ONE parameter (`any_of_param`): any number of
        values, one short statement."""
        return f"{expression} = ANY(%s)"

    def any_of_param(self, values: list) -> object:
        return values


class SQLiteDialect(Dialect):
    vendor = "sqlite"
    temp_suffix = ""
    # SQLite has no time zones: every moment's text is read by parse_moment (once per distinct text).
    types_moments = False
    fence = ""

    def matches(self, expression: str, pattern: str) -> str:
        # Django registers REGEXP on its SQLite connections (Python's re.search; the patterns are anchored).
        return f"({expression} REGEXP '{pattern}')"

    def trim(self, expression: str) -> str:
        return f"trim({expression}, {literal(WHITESPACE)})"

    def amount(self, text: str) -> str:
        # Decimal columns have NUMERIC affinity on SQLite; as text with two places the import compares exactly.
        return f"printf('%%.2f', CAST({text} AS REAL))"

    def money_text(self, expression: str) -> str:
        return f"printf('%%.2f', {expression})"

    def exceeds(self, amount: str) -> str:
        # Two places and at most ten digits before them: a double holds every such amount exactly enough.
        return f"CAST({amount} AS REAL) > %s"

    def exceeds_params(self, limit) -> list:
        return [float(limit)]

    def multiplier_text(self, expression: str) -> str:
        return f"printf('%%.2f', {expression})"

    def local_day(self, moment: str, zone: str) -> str:
        return f"django_datetime_cast_date({moment}, {zone_literal(zone)}, 'UTC')"

    def local_month(self, moment: str, zone: str) -> str:
        return f"substr(django_datetime_trunc('month', {moment}, {zone_literal(zone)}, 'UTC'), 1, 10)"

    def json(self, text: str) -> str:
        return text

    def next_ids(self, table: str, order: str) -> str:
        # SQLite serialises writers (the import holds the write lock from its first statement: Django's
        # transaction_mode IMMEDIATE), so the ids after the largest one are free.
        # The table's name is the model's: nothing from a file.
        last = f"coalesce((SELECT seq FROM sqlite_sequence WHERE name = '{table}'), 0)"  # noqa: S608
        return f"(SELECT max(coalesce(max(id), 0), {last}) FROM {table}) + row_number() OVER (ORDER BY {order})"  # noqa: S608

    def lock_for_update(self) -> str:
        return ""

    def any_of(self, expression: str) -> str:
        return f"{expression} IN (SELECT value FROM json_each(%s))"  # noqa: S608 (the values are the parameter)

    def any_of_param(self, values: list) -> object:
        return json.dumps(values)


def dialect() -> Dialect:
    return Dialect() if connection.vendor == "postgresql" else SQLiteDialect()
