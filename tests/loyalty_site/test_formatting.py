"""Money and points as the merchant reads them: currency symbol, thousands separators, exact decimals."""

import datetime as dt
from decimal import Decimal

from django.template import engines
from django.test import override_settings
from django.utils.html import strip_tags
from hypothesis import given
from hypothesis import strategies as st

from loyalty_site.formatting import day, moment, moment_breakable, money, month_label, points, signed_points


def test_money_has_the_currency_symbol_and_thousands_separators():
    assert money(Decimal("1234.5")) == "$1,234.50"
    assert money(Decimal("0")) == "$0.00"


@override_settings(LOYALTY_CURRENCY="EUR", LANGUAGE_CODE="de")
def test_money_follows_the_merchants_currency_and_language():
    assert money(Decimal("1234.5")) == "1.234,50\xa0€"


def test_points_have_thousands_separators_and_a_true_minus_sign():
    assert points(19582) == "19,582"
    assert signed_points(90) == "+90"
    assert signed_points(-20) == "\u221220"
    assert signed_points(0) == "0"


def test_anything_else_is_shown_as_it_is():
    assert money(None) == "" and points("") == "" and money("n/a") == "n/a"


@given(st.decimals(min_value=Decimal("0"), max_value=Decimal("1000000000"), places=2))
def test_money_never_loses_a_cent(amount):
    shown = money(amount)
    assert Decimal(shown.removeprefix("$").replace(",", "")) == amount


def test_templates_use_the_filters_without_loading_them():
    rendered = engines["django"].from_string("{{ a|money }} {{ p|points }}").render({"a": Decimal("12.5"), "p": 1234})
    assert rendered == "$12.50 1,234"


@override_settings(TIME_ZONE="America/New_York")
def test_dates_and_moments_have_one_format_and_moments_are_local():
    late_utc = dt.datetime(2025, 2, 1, 3, 30, tzinfo=dt.UTC)  # still January 31st in New York
    assert day(dt.date(2025, 1, 31)) == "Jan 31, 2025"
    assert day(late_utc) == "Jan 31, 2025"
    assert moment(late_utc) == "Jan 31, 2025, 10:30\u202fPM"
    assert month_label(dt.date(2025, 1, 1)) == "Jan 2025"


@override_settings(TIME_ZONE="America/New_York")
def test_a_breakable_moment_reads_the_same_and_breaks_only_between_its_date_and_time():
    late_utc = dt.datetime(2025, 2, 1, 3, 30, tzinfo=dt.UTC)
    shown = moment_breakable(late_utc)
    assert shown == '<span class="nowrap">Jan 31, 2025</span>, <span class="nowrap">10:30\u202fPM</span>'
    assert strip_tags(shown) == moment(late_utc)
    assert moment_breakable(None) == ""
