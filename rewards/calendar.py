"""Calendar months and local days: pure Python, no Django, so the engine can use them too.

Months are represented by their first day (`date(2025, 3, 1)` is March 2025). Moments are aware
datetimes; a day or a month is local to a time zone that the caller names (`rewards.local_time` names
the merchant's).
"""

from __future__ import annotations

import datetime as dt
import re

# The earliest moment a merchant can have records: the default program's first rule version is in force
# from it. In every time zone it is a local date of 1899-12-31 or later, far from the calendar's ends.
EARLIEST_MOMENT = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)

_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def month_name(month: dt.date) -> str:
    """A month as the books and the members read it: "January 2025"."""
    return f"{month:%B %Y}"


def add_months(month: dt.date, count: int) -> dt.date:
    """The first day of the month `count` months after `month`'s (before it when negative)."""
    index = month.year * 12 + (month.month - 1) + count
    return dt.date(index // 12, index % 12 + 1, 1)


def months_from(start: dt.date, count: int) -> list[dt.date]:
    """`count` consecutive months from `start`'s."""
    return [add_months(month_start(start), offset) for offset in range(count)]


def parse_month(text: str) -> dt.date:
    """'2025-01' -> date(2025, 1, 1). ValueError for anything else ('2025-13', '2025-1', '２０２５-01')."""
    match = _MONTH.fullmatch((text or "").strip())
    if not match or not 1 <= int(match[2]) <= 12 or int(match[1]) < 1:
        raise ValueError(f"not a month (YYYY-MM): {text!r}")
    return dt.date(int(match[1]), int(match[2]), 1)


def local_midnight(day: dt.date, zone: dt.tzinfo) -> dt.datetime:
    """The aware moment a local calendar day begins in `zone` (as zoneinfo resolves a skipped or repeated
    wall time: fold=0, the offset in force just before a change)."""
    return dt.datetime.combine(day, dt.time.min, tzinfo=zone)


def local_date(moment: dt.datetime, zone: dt.tzinfo) -> dt.date:
    """The calendar day an aware moment falls on in `zone`."""
    if moment.tzinfo is None:
        raise ValueError("a moment must be timezone-aware")
    return moment.astimezone(zone).date()
