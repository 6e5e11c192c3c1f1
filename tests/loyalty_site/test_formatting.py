"""Money and points as the merchant reads them: currency symbol, thousands separators, exact decimals."""

from decimal import Decimal

from django.template import engines
from django.test import override_settings
from hypothesis import given
from hypothesis import strategies as st

from loyalty_site.formatting import money, points, signed_points


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
