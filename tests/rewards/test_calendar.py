"""Calendar months and local days (rewards.calendar): pure, so these need no database."""

import datetime as dt
import zoneinfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rewards.calendar import EARLIEST_MOMENT, add_months, local_date, local_midnight, months_from, parse_month


def test_the_earliest_moment_is_an_ordinary_date_in_every_time_zone():
    """The default program's first rule version starts at EARLIEST_MOMENT: in any TIME_ZONE, its local date,
    that day's midnight and the months around it are ordinary dates (no overflow near year 1)."""
    for name in zoneinfo.available_timezones():
        zone = zoneinfo.ZoneInfo(name)
        day = local_date(EARLIEST_MOMENT, zone)
        assert dt.date(1899, 12, 31) <= day <= dt.date(1900, 1, 1), name
        assert local_midnight(day, zone) <= EARLIEST_MOMENT < local_midnight(day + dt.timedelta(days=1), zone), name
        assert add_months(day.replace(day=1), -1) < day < add_months(day.replace(day=1), 1), name


@pytest.mark.parametrize(
    ("text", "month"),
    [("2025-01", dt.date(2025, 1, 1)), (" 1900-12 ", dt.date(1900, 12, 1)), ("0001-01", dt.date(1, 1, 1))],
)
def test_a_month_is_yyyy_mm(text, month):
    assert parse_month(text) == month


@pytest.mark.parametrize("text", ["2025-13", "2025-00", "2025-1", "25-01", "2025-01-01", "January", "", "２０２５-01"])
def test_anything_else_is_not_a_month(text):
    with pytest.raises(ValueError, match="not a month"):
        parse_month(text)


@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2999, 12, 31)), st.integers(-1200, 1200))
def test_adding_months_then_taking_them_away_comes_back(day, count):
    month = day.replace(day=1)
    assert add_months(add_months(month, count), -count) == month
    assert months_from(day, 3) == [month, add_months(month, 1), add_months(month, 2)]
