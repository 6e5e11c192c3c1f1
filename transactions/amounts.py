"""Parsing money typed by people or read from files. Never through float, and ASCII digits only."""

import re
from decimal import Decimal

from django.conf import settings

# ASCII digits, optionally a dot and one or two decimals. No sign, no exponent, no thousands separator, and
# no other script's digits ('１２', '١٢'), which Decimal() and Python's \d would take for 12.
PLAIN_AMOUNT = r"[0-9]{1,10}(?:\.[0-9]{1,2})?"  # the import's SQL checks the same pattern (transactions.import_sql)
_PLAIN_AMOUNT = re.compile(PLAIN_AMOUNT)


class AmountError(ValueError):
    """An amount that is not a plain non-negative decimal with at most two places."""


def max_amount() -> Decimal:
    return Decimal(str(getattr(settings, "LOYALTY_MAX_AMOUNT", "1000000.00")))


def parse_amount(text: str) -> Decimal:
    """'12.50' -> Decimal('12.50'). Refuses '12,50', '-5', 'abc', 'NaN', '1e3', '10.005', '１２' and absurd sizes."""
    cleaned = (text or "").strip()
    if not cleaned:
        raise AmountError("Amount is missing")
    if not _PLAIN_AMOUNT.fullmatch(cleaned):
        raise AmountError(f"Amount must be a number like 12.50, not '{cleaned[:20]}'")
    amount = Decimal(cleaned).quantize(Decimal("0.01"))
    if amount > max_amount():
        raise AmountError(f"Amount {cleaned} is larger than the largest allowed ({max_amount()})")
    return amount
