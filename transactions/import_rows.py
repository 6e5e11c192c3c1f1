"""One row of an import file, typed in Python: the parsers whose words every bad row is reported in.

The import's typing statement (transactions.import_stages) checks and types whole files in SQL, word for word as
these do (tests/transactions/test_import_stages.py proves it); `manage.py points_report --file` reads a file with
these directly (transactions.import_tally). Pure functions of the text: the property tests exercise them.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from customers.models import Customer
from rewards.calendar import local_date

from .amounts import AmountError, parse_amount
from .models import Transaction

_MEMBER_NUMBER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")
MAX_MEMBER_NUMBER = Customer._meta.get_field("member_number").max_length
MAX_NAME = Customer._meta.get_field("name").max_length
MAX_RECEIPT = Transaction._meta.get_field("receipt_number").max_length


class RowError(ValueError):
    """A bad row: the message says why, in words a merchant understands."""


def wall_time(text: str) -> dt.datetime:
    """An ISO 8601 date or date-time as written: naive (local) or with its offset. RowError when it is neither."""
    cleaned = (text or "").strip()
    if not cleaned:
        raise RowError("occurred_at is missing")
    try:
        if "T" in cleaned or " " in cleaned:  # a date-time (a date alone has neither)
            return dt.datetime.fromisoformat(cleaned)
        if _DATE_ONLY.fullmatch(cleaned):
            return dt.datetime.combine(dt.date.fromisoformat(cleaned), dt.time.min)
        raise ValueError
    except ValueError:
        raise RowError(
            f"occurred_at '{cleaned[:40]}' is not a date (2025-01-31) or date-time (2025-01-31T23:30:00)"
        ) from None


def parse_moment(text: str, tz: dt.tzinfo) -> dt.datetime:
    """An ISO 8601 date or date-time as an aware moment; a date, or a date-time without offset, is local to `tz`."""
    moment = wall_time(text)
    if moment.tzinfo is None:
        # zoneinfo resolves a wall time skipped or repeated by a daylight-saving change with fold=0,
        # as Django's make_aware does: the offset in force just before the change.
        moment = moment.replace(tzinfo=tz)
    # In UTC, as the database hands moments back: a local time in a daylight-saving gap or fold never
    # compares equal to another zone's moment (PEP 495), which would make a re-import see differences.
    return moment.astimezone(dt.UTC)


class LocalMoments:
    """parse_moment for a whole file, with the local calendar day of each moment: what the import's typing
    statement does in SQL, in Python. A wall time on a day without a daylight-saving change is moved to UTC by
    that day's offset, decided once per day by `day_offsets` (the import's own shortcut); any other moment goes
    through parse_moment and zoneinfo."""

    def __init__(self, tz: dt.tzinfo) -> None:
        self.tz = tz
        # A local day without a change -> (its midnight as written, that midnight's moment in UTC); else None.
        self.days: dict[dt.date, tuple[dt.datetime, dt.datetime] | None] = {}

    def read(self, text: str) -> tuple[dt.datetime, dt.date]:
        """(the moment in UTC, its local date in `tz`); RowError as parse_moment refuses."""
        try:
            # fromisoformat refuses a padded text, so what it reads of a date-time with a 'T' is wall_time's reading.
            wall = dt.datetime.fromisoformat(text) if "T" in text else wall_time(text)
        except ValueError:
            wall = wall_time(text)
        if wall.tzinfo is None:
            day = wall.date()
            try:
                found = self.days[day]
            except KeyError:
                found = self.days[day] = self.midnight(day)
            if found is not None:
                # All day at one offset: the wall time's own date is its local date, and its moment is as far
                # from the day's first moment as it reads (adding to an aware moment is cheaper than making one).
                midnight, first = found
                return first + (wall - midnight), day
            wall = wall.replace(tzinfo=self.tz)
        moment = wall.astimezone(dt.UTC)
        return moment, local_date(moment, self.tz)

    def midnight(self, day: dt.date) -> tuple[dt.datetime, dt.datetime] | None:
        _text, _valid, uniform, offset = day_offsets(day.isoformat(), self.tz)
        if not uniform:
            return None
        midnight = dt.datetime.combine(day, dt.time.min)
        return midnight, (midnight - offset).replace(tzinfo=dt.UTC)


def day_offsets(text: str, tz: dt.tzinfo) -> tuple[str, int, int, dt.timedelta | None]:
    """(day, valid, uniform, UTC offset) of a local day's date text: whether it is a date at all (30 February
    is not), and whether the zone's offset is the same all day (no daylight-saving change), and which."""
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        return text, 0, 0, None
    offsets = {dt.datetime.combine(day, dt.time(hour)).replace(tzinfo=tz).utcoffset() for hour in range(24)}
    offsets.add(dt.datetime.combine(day, dt.time(23, 59, 59)).replace(tzinfo=tz).utcoffset())
    if len(offsets) == 1:
        return text, 1, 1, offsets.pop()
    return text, 1, 0, None


def parse_member_number(text: str) -> str:
    member = (text or "").strip()
    if not member:
        raise RowError("customer_id is missing")
    if len(member) > MAX_MEMBER_NUMBER or not _MEMBER_NUMBER.fullmatch(member):
        raise RowError(
            f"customer_id '{member[:40]}' is not a member number (letters, digits, '-' or '_', "
            f"at most {MAX_MEMBER_NUMBER} characters)"
        )
    return member


def parse_receipt(text: str, column: str = "transaction_id") -> str:
    receipt = (text or "").strip()
    if not receipt:
        raise RowError(f"{column} is missing")
    if len(receipt) > MAX_RECEIPT:
        raise RowError(f"{column} is longer than {MAX_RECEIPT} characters")
    return receipt


def parse_row_amount(text: str) -> Decimal:
    try:
        return parse_amount(text)
    except AmountError as exc:
        raise RowError(str(exc)) from None
