"""The points arithmetic: pure Python, no Django, no database.

A rule is a list of spend bands. Each band has a threshold and a rate: the points earned for each
whole currency unit of the amount above that threshold, up to the next band's threshold.

The classic rule is two bands, (50 -> 1) and (100 -> 2): a 120.00 purchase earns
50 x 1 for the dollars from 50 to 100 plus 20 x 2 for the dollars over 100 = 90 points.

Rounding, written down once: only whole currency units earn. The amount is rounded *down* to a
whole unit before the bands apply (120.99 earns as 120), and a band's points are rounded *down*
to a whole point when its rate is fractional.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from itertools import pairwise
from typing import Any


class RuleError(ValueError):
    """A rule that cannot be used: unordered or overlapping thresholds, a negative rate."""


@dataclass(frozen=True, slots=True)
class Band:
    threshold: int
    rate: Decimal

    def __post_init__(self) -> None:
        if self.threshold < 0:
            raise RuleError(f"threshold {self.threshold} is negative")
        if self.rate < 0:
            raise RuleError(f"rate {self.rate} is negative")


@dataclass(frozen=True, slots=True)
class Rule:
    bands: tuple[Band, ...]

    def __post_init__(self) -> None:
        thresholds = [band.threshold for band in self.bands]
        if any(later <= earlier for earlier, later in pairwise(thresholds)):
            raise RuleError("band thresholds must be strictly increasing")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Rule:
        """Build a rule from its stored form: {"bands": [{"threshold": 50, "rate": "1"}, ...]}."""
        try:
            bands = tuple(
                Band(threshold=_whole(band["threshold"]), rate=Decimal(str(band["rate"])))
                for band in data.get("bands", [])
            )
        except (KeyError, TypeError, InvalidOperation) as exc:
            raise RuleError(f"malformed rule: {exc!r}") from exc
        return cls(bands=bands)

    def to_dict(self) -> dict[str, Any]:
        return {"bands": [{"threshold": b.threshold, "rate": str(b.rate)} for b in self.bands]}


def _whole(value: Any) -> int:
    number = Decimal(str(value))
    if number != number.to_integral_value():
        raise RuleError(f"threshold {value} is not a whole number")
    return int(number)


CLASSIC_RULE = Rule(bands=(Band(threshold=50, rate=Decimal(1)), Band(threshold=100, rate=Decimal(2))))


@dataclass(frozen=True, slots=True)
class BandPart:
    """What one band contributed: `units` whole currency units at `rate` points each."""

    lower: int
    upper: int | None
    units: int
    rate: Decimal
    points: int

    def describe(self) -> str:
        span = f"{self.lower}–{self.upper}" if self.upper is not None else f"over {self.lower}"
        return f"{self.units} × {_plain(self.rate)} ({span})"


@dataclass(frozen=True, slots=True)
class Earning:
    amount: Decimal
    points: int
    parts: tuple[BandPart, ...]

    def explain(self) -> str:
        """One line a cashier or an auditor can read: '120.00: 50 × 1 (50–100) + 20 × 2 (over 100) = 90'."""
        counted = [part for part in self.parts if part.units > 0]
        if not counted:
            return f"{self.amount:.2f}: below every band = 0"
        return f"{self.amount:.2f}: " + " + ".join(p.describe() for p in counted) + f" = {self.points}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "amount": f"{self.amount:.2f}",
            "points": self.points,
            "parts": [
                {"lower": p.lower, "upper": p.upper, "units": p.units, "rate": str(p.rate), "points": p.points}
                for p in self.parts
                if p.units > 0
            ],
        }


def _plain(number: Decimal) -> str:
    return format(number.normalize(), "f") if number == number.to_integral_value() else str(number)


def whole_units(amount: Decimal) -> int:
    """The whole currency units of an amount, rounded down (120.99 -> 120)."""
    if amount < 0:
        raise ValueError("amount must not be negative")
    return int(amount.to_integral_value(rounding=ROUND_FLOOR))


def earn(amount: Decimal, rule: Rule) -> Earning:
    """The points a purchase of `amount` earns under `rule`, with each band's part."""
    units = whole_units(amount)
    parts = []
    for index, band in enumerate(rule.bands):
        upper = rule.bands[index + 1].threshold if index + 1 < len(rule.bands) else None
        top = units if upper is None else min(units, upper)
        counted = max(0, top - band.threshold)
        points = int((counted * band.rate).to_integral_value(rounding=ROUND_FLOOR))
        parts.append(BandPart(lower=band.threshold, upper=upper, units=counted, rate=band.rate, points=points))
    return Earning(amount=amount, points=sum(p.points for p in parts), parts=tuple(parts))


def reversal(*, purchase_amount: Decimal, refunded_before: Decimal, refund: Decimal, rule: Rule) -> int:
    """Points to take back for a refund: the customer keeps the points of what was not refunded.

    Returns a number <= 0. Successive partial refunds telescope: after all of them the customer holds
    exactly the points that the unrefunded remainder earns under the purchase's rule.
    """
    remaining_before = purchase_amount - refunded_before
    remaining_after = remaining_before - refund
    if refund < 0 or remaining_after < 0:
        raise ValueError("a refund cannot exceed what is left of the purchase")
    return earn(remaining_after, rule).points - earn(remaining_before, rule).points


__all__: Sequence[str] = (
    "CLASSIC_RULE",
    "Band",
    "BandPart",
    "Earning",
    "Rule",
    "RuleError",
    "earn",
    "reversal",
    "whole_units",
)
