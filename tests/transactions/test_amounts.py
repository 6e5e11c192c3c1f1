from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transactions.amounts import AmountError, parse_amount


@pytest.mark.parametrize(
    ("text", "amount"), [("12.50", "12.50"), ("0", "0.00"), ("0.00", "0.00"), (" 7.5 ", "7.50"), ("120", "120.00")]
)
def test_plain_amounts_parse_exactly(text, amount):
    assert parse_amount(text) == Decimal(amount)


@pytest.mark.parametrize(
    "text", ["12,50", "-5", "abc", "NaN", "1e3", "10.005", "", "+5", "1 000", "Infinity", "99999999999", "1000000.01"]
)
def test_anything_else_is_refused_with_a_message(text):
    with pytest.raises(AmountError, match="Amount"):
        parse_amount(text)


@given(st.decimals(min_value=0, max_value=Decimal("1000000"), places=2))
def test_every_two_place_amount_round_trips(amount):
    assert parse_amount(f"{amount:.2f}") == amount


@pytest.mark.parametrize("text", ["１２", "١٢", "۱۲.۵۰", "१२", "12.５0", "𝟏𝟐"])
def test_other_scripts_digits_are_refused(text):
    with pytest.raises(AmountError, match=r"Amount must be a number like 12\.50"):
        parse_amount(text)


NOT_ASCII_DIGITS = st.characters(categories=["Nd"]).filter(lambda char: not "0" <= char <= "9")


@given(st.decimals(min_value=0, max_value=Decimal("999999"), places=2), NOT_ASCII_DIGITS, st.data())
def test_any_amount_with_a_digit_of_another_script_is_refused(amount, digit, data):
    """Decimal() and Python's \\d take every script's digits for ASCII ones; the parser takes ASCII only."""
    text = f"{amount:.2f}"
    where = data.draw(st.sampled_from([index for index, char in enumerate(text) if char.isdigit()]))
    with pytest.raises(AmountError):
        parse_amount(text[:where] + digit + text[where + 1 :])
