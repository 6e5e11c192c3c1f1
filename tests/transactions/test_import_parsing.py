"""Properties of the import's field parsing (no database): what is accepted round-trips, the rest is refused."""

import datetime as dt
import zoneinfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rewards.calendar import local_date
from transactions.import_rows import LocalMoments
from transactions.importing import RowError, parse_member_number, parse_moment, parse_row_amount

NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
MOMENTS = st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2100, 1, 1))


@given(st.decimals(min_value=0, max_value=1_000_000, places=2, allow_nan=False, allow_infinity=False))
def test_a_plain_amount_reads_back_exactly(amount):
    text = f"{amount:.2f}"
    assert parse_row_amount(text) == amount
    assert parse_row_amount(f" {text} ") == amount


AMOUNTS = st.decimals(min_value=0, max_value=1_000_000, places=2, allow_nan=False, allow_infinity=False)
SPOILERS = {
    "sign": lambda text: "-" + text,
    "plus": lambda text: "+" + text,
    "decimal comma": lambda text: text.replace(".", ","),
    "third place": lambda text: text + "5",
    "exponent": lambda text: text + "e0",
    "currency": lambda text: "$" + text,
    "unit": lambda text: text + " USD",
}


@given(AMOUNTS, st.sampled_from(sorted(SPOILERS)))
def test_a_plain_amount_spoiled_in_any_way_is_refused(amount, spoiler):
    with pytest.raises(RowError):
        parse_row_amount(SPOILERS[spoiler](f"{amount:.2f}"))


@pytest.mark.parametrize("text", ["12,50", "-5", "abc", "NaN", "1e3", "10.005", "99999999999", "Infinity", "", "1 000"])
def test_the_issues_bad_amounts_are_refused(text):
    with pytest.raises(RowError):
        parse_row_amount(text)


@given(MOMENTS)
def test_a_local_date_time_is_that_wall_time_in_the_merchants_zone(moment):
    moment = moment.replace(microsecond=0, fold=0)  # a wall time as a file writes it: no fold
    parsed = parse_moment(moment.isoformat(), NEW_YORK)
    assert parsed.tzinfo is dt.UTC
    # The same wall time, read as Django's make_aware reads it (fold=0 in a gap or a repeat).
    assert parsed == moment.replace(tzinfo=NEW_YORK).astimezone(dt.UTC)


@given(MOMENTS, st.integers(min_value=-14 * 60, max_value=14 * 60))
def test_a_date_time_with_an_offset_is_that_moment(moment, minutes):
    aware = moment.replace(microsecond=0, tzinfo=dt.timezone(dt.timedelta(minutes=minutes)))
    assert parse_moment(aware.isoformat(), NEW_YORK) == aware


@given(st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2100, 1, 1)))
def test_a_date_is_local_midnight(day):
    parsed = parse_moment(day.isoformat(), NEW_YORK)
    assert parsed.astimezone(NEW_YORK).replace(tzinfo=None) == dt.datetime.combine(day, dt.time.min)


@pytest.mark.parametrize("text", ["2025-02-30", "2025-13-01", "31/01/2025", "2025-01-31T24:01:00", "soon", "20250131"])
def test_impossible_or_unknown_dates_are_refused(text):
    with pytest.raises(RowError):
        parse_moment(text, NEW_YORK)


@given(st.text(max_size=40))
def test_member_numbers_are_letters_digits_dash_and_underscore(text):
    try:
        member = parse_member_number(text)
    except RowError:
        return
    assert member == text.strip()
    assert member[0].isascii() and member[0].isalnum()
    assert all(char.isascii() and (char.isalnum() or char in "-_") for char in member)


# LocalMoments: parse_moment for a whole file, with each moment's local date, a day's offset decided once.
ZONES = [NEW_YORK, zoneinfo.ZoneInfo("Asia/Kolkata"), zoneinfo.ZoneInfo("Australia/Lord_Howe"), dt.UTC]


@given(MOMENTS, st.sampled_from(ZONES), st.sampled_from(["T", " "]), st.booleans())
def test_local_moments_read_a_wall_time_as_parse_moment_does(moment, zone, separator, seconds):
    text = moment.replace(microsecond=0).isoformat(sep=separator, timespec="seconds" if seconds else "minutes")
    parsed = parse_moment(text, zone)
    assert LocalMoments(zone).read(text) == (parsed, local_date(parsed, zone))


@given(MOMENTS, st.integers(min_value=-14 * 60, max_value=14 * 60), st.sampled_from(ZONES))
def test_local_moments_read_an_offset_or_a_date_as_parse_moment_does(moment, minutes, zone):
    aware = moment.replace(microsecond=0, tzinfo=dt.timezone(dt.timedelta(minutes=minutes)))
    moments = LocalMoments(zone)
    for text in (aware.isoformat(), moment.date().isoformat(), f" {moment.date().isoformat()}T10:00 "):
        parsed = parse_moment(text, zone)
        assert moments.read(text) == (parsed, local_date(parsed, zone))


@pytest.mark.parametrize(
    "text",
    [
        # New York's skipped hour (9 March 2025) and repeated hour (2 November 2025), and the days around them.
        *(f"2025-03-09T{hour:02d}:{minute:02d}:00" for hour in range(5) for minute in (0, 30, 59)),
        *(f"2025-11-02T{hour:02d}:{minute:02d}:00" for hour in range(4) for minute in (0, 30, 59)),
        "2025-03-08T23:59:59", "2025-03-10T00:00:00", "2025-11-01T23:59:59", "2025-11-03T00:00:00",
    ],
)  # fmt: skip
def test_local_moments_read_the_daylight_saving_changes_as_parse_moment_does(text):
    parsed = parse_moment(text, NEW_YORK)
    assert LocalMoments(NEW_YORK).read(text) == (parsed, local_date(parsed, NEW_YORK))


@pytest.mark.parametrize("text", ["2025-02-30", "2025-02-30T10:00", "soon", "20250131", "", "2025-01-31T24:01:00"])
def test_local_moments_refuse_what_parse_moment_refuses_in_its_words(text):
    with pytest.raises(RowError) as refused:
        parse_moment(text, NEW_YORK)
    with pytest.raises(RowError, match=str(refused.value).replace("(", r"\(").replace(")", r"\)")):
        LocalMoments(NEW_YORK).read(text)
