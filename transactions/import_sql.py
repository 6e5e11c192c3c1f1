"""The SQL of the set-based import: what differs between PostgreSQL and SQLite, said once.

The import's stages (transactions.import_stages) are the same statements on both databases; the few
expressions that are written differently (a regular expression match, a moment's local day or month, a
money value as text, the next ids of a table, a JSON value) come from a `Dialect`. PostgreSQL is the
production database and the one the speed goals are measured on; SQLite must give the same results.
"""

from __future__ import annotations

import re

from django.db import connection

# What Python's str.strip() strips (every character whose str.isspace() is true): a field is trimmed in
# SQL exactly as the row-by-row parser trims it. tests/transactions/test_import_sql.py proves the list.
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)

# A member number, a plain amount (transactions.amounts), the ISO moments PostgreSQL types itself (any other
# non-empty text is parsed once per distinct text by transactions.importing.parse_moment).
MEMBER_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_-]*$"
AMOUNT_PATTERN = r"^[0-9]{1,10}(\.[0-9]{1,2})?$"
_DATE = "(19|2[0-9])[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
_TIME = "([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?"
_OFFSET = "(Z|[+-](0[0-9]|1[0-4]):[0-5][0-9])"
FAST_MOMENT_PATTERN = f"^{_DATE}([T ]{_TIME}{_OFFSET}?)?$"
OFFSET_PATTERN = f"{_OFFSET}$"


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

    def moment_from_text(self, text: str, zone: str) -> str:
        """A fast-pattern text as a moment: with its offset, or local to TIME_ZONE read as Python's zoneinfo
        reads it (fold=0: a repeated wall time is its first occurrence, PostgreSQL's own choice being the
        second; a skipped one is read with the offset before the change, as PostgreSQL does too). NULL when
        the date does not exist (30 February)."""
        year, month, day = (
            f"CAST(substr({text}, {start}, {size}) AS integer)" for start, size in ((1, 4), (6, 2), (9, 2))
        )
        last_day = (
            f"CAST(extract(day FROM make_date({year}, {month}, 1) + interval '1 month' - interval '1 day') AS integer)"
        )
        tz = zone_literal(zone)
        local = f"CAST({text} AS timestamp)"
        second = f"({local} AT TIME ZONE {tz})"
        day_before = f"({second} - interval '1 day')"
        # The offset in force a day before (local minus UTC), and the wall time read with it.
        offset_before = f"(({day_before} AT TIME ZONE {tz}) - ({day_before} AT TIME ZONE 'UTC'))"
        first = f"(({local} - {offset_before}) AT TIME ZONE 'UTC')"
        naive = f"CASE WHEN {first} < {second} AND ({first} AT TIME ZONE {tz}) = {local} THEN {first} ELSE {second} END"
        return (
            f"CASE WHEN {day} > {last_day} THEN NULL "
            f"WHEN {self.matches(text, OFFSET_PATTERN)} THEN CAST({text} AS timestamptz) ELSE {naive} END"
        )

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


def dialect() -> Dialect:
    return Dialect() if connection.vendor == "postgresql" else SQLiteDialect()
