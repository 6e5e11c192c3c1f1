"""The points arithmetic: pure Python, no Django, no database.

A rule has spend bands. Each band has a threshold and a rate: the points earned for each whole
currency unit of the amount above that threshold, up to the next band's threshold. An optional base
rate earns on the units from zero up to the first threshold (it is a band at zero by another name).
Below the rule's minimum purchase nothing is earned at all.

The classic rule is two bands, (50 -> 1) and (100 -> 2): a 120.00 purchase earns
50 x 1 for the dollars from 50 to 100 plus 20 x 2 for the dollars over 100 = 90 points.

On top of the bands, a rule may carry:
- promotions: a multiplier or a fixed bonus for purchases on local dates in a range, optionally only
  on some weekdays, at some stores, or from a minimum amount. With `promotion_mode` "stack" every
  promotion that applies is used (multipliers first, in the order listed, then fixed bonuses); with
  "best" only the one giving the most points (the first listed on a tie).
- a stamp card: every Nth qualifying purchase (optionally from a minimum amount) earns a fixed bonus.
  The engine says whether a purchase qualifies and what the Nth visit earns; counting the visits is
  the ledger's business (rewards.services).
- bonus actions: points for enrolling, in the birthday month, and for referring a new customer.

Rounding, written down once, always *down* (ROUND_FLOOR), in `_floor`:
- only whole currency units earn: the amount is rounded down to a whole unit before the bands apply
  (120.99 earns as 120);
- a band's points are rounded down to a whole point when its rate is fractional;
- each promotion step is rounded down to a whole point when its multiplier is fractional;
- the customer's tier multiplier applies last (after promotions) and is rounded down to a whole point.
Minimum amounts (the minimum purchase, a promotion's, the stamp card's) compare the exact amount.

Promotions apply only when the purchase's context is given: `earn(amount, rule, on=local_date,
store=store_code)`. `earn(amount, rule)` without context earns the bands alone.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from itertools import pairwise
from typing import Any

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
PROMOTION_MODES = ("stack", "best")
PROMOTION_KINDS = ("multiplier", "bonus")


class RuleError(ValueError):
    """A rule that cannot be used. `path` names the offending field, e.g. "bands.1.threshold", so a
    form can show the message beside it; "" means the rule as a whole."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.path = path

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


def _floor(number: Decimal) -> int:
    """The one rounding of the engine: down to a whole number."""
    return int(number.to_integral_value(rounding=ROUND_FLOOR))


def _decimal(value: Any, path: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, TypeError, ValueError) as exc:
        raise RuleError(f"'{value}' is not a number", path) from exc
    if not number.is_finite():
        raise RuleError(f"'{value}' is not a number", path)
    return number


def _whole(value: Any, path: str, what: str = "value") -> int:
    number = _decimal(value, path)
    if number != number.to_integral_value():
        raise RuleError(f"{what} {value} is not a whole number", path)
    return int(number)


def _not_negative(number: Decimal | int, path: str, what: str) -> None:
    if number < 0:
        raise RuleError(f"{what} {number} is negative", path)


def _date(value: Any, path: str) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise RuleError(f"'{value}' is not a date (YYYY-MM-DD)", path) from exc


@dataclass(frozen=True, slots=True)
class Band:
    threshold: int
    rate: Decimal

    def __post_init__(self) -> None:
        _not_negative(self.threshold, "threshold", "threshold")
        _not_negative(self.rate, "rate", "rate")


@dataclass(frozen=True, slots=True)
class Promotion:
    """A multiplier (`multiplier`, e.g. 2) or a fixed bonus (`bonus` points) for purchases on local
    dates from `starts` to `ends` inclusive, optionally only on `weekdays` (0 = Monday), at `stores`
    (store codes) and from `minimum_amount`."""

    name: str
    starts: dt.date
    ends: dt.date
    kind: str = "multiplier"
    multiplier: Decimal = Decimal(1)
    bonus: int = 0
    weekdays: tuple[int, ...] = ()
    stores: tuple[str, ...] = ()
    minimum_amount: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise RuleError("a promotion needs a name", "name")
        if self.kind not in PROMOTION_KINDS:
            raise RuleError(f"kind must be one of {', '.join(PROMOTION_KINDS)}", "kind")
        if self.ends < self.starts:
            raise RuleError(f"the promotion ends ({self.ends}) before it starts ({self.starts})", "ends")
        if self.kind == "multiplier" and self.multiplier <= 0:
            raise RuleError(f"multiplier {self.multiplier} must be more than 0", "multiplier")
        _not_negative(self.bonus, "bonus", "bonus")
        if self.kind == "bonus" and self.bonus == 0:
            raise RuleError("a fixed-bonus promotion needs a bonus of at least 1 point", "bonus")
        if any(day not in range(7) for day in self.weekdays):
            raise RuleError("weekdays are 0 (Monday) to 6 (Sunday)", "weekdays")
        _not_negative(self.minimum_amount, "minimum_amount", "minimum amount")

    def in_force(self, on: dt.date | None, store: str | None) -> bool:
        """Whether the promotion covers a purchase on local date `on` at store `store` (any amount)."""
        if on is None or not self.starts <= on <= self.ends:
            return False
        if self.weekdays and on.weekday() not in self.weekdays:
            return False
        return not self.stores or store in self.stores

    def apply(self, points: int) -> int:
        if self.kind == "multiplier":
            return _floor(points * self.multiplier)
        return points + self.bonus

    def describe(self) -> str:
        return f"{self.name} ×{_plain(self.multiplier)}" if self.kind == "multiplier" else f"{self.name} +{self.bonus}"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "starts": self.starts.isoformat(),
            "ends": self.ends.isoformat(),
        }
        if self.kind == "multiplier":
            data["multiplier"] = str(self.multiplier)
        else:
            data["bonus"] = self.bonus
        data["weekdays"] = list(self.weekdays)
        data["stores"] = list(self.stores)
        data["minimum_amount"] = str(self.minimum_amount)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str) -> Promotion:
        if not isinstance(data, Mapping):
            raise RuleError("a promotion must be an object", path)
        kind = str(data.get("kind", "multiplier"))
        weekdays = data.get("weekdays") or []
        stores = data.get("stores") or []
        if not isinstance(weekdays, list | tuple):
            raise RuleError("weekdays must be a list", f"{path}.weekdays")
        if not isinstance(stores, list | tuple):
            raise RuleError("stores must be a list", f"{path}.stores")
        for key in ("starts", "ends"):
            if not data.get(key):
                raise RuleError("this date is required", f"{path}.{key}")
        try:
            return cls(
                name=str(data.get("name", "")),
                kind=kind,
                starts=_date(data["starts"], f"{path}.starts"),
                ends=_date(data["ends"], f"{path}.ends"),
                multiplier=_decimal(data.get("multiplier", 1), f"{path}.multiplier"),
                bonus=_whole(data.get("bonus", 0), f"{path}.bonus", "bonus"),
                weekdays=tuple(sorted({_whole(day, f"{path}.weekdays", "weekday") for day in weekdays})),
                stores=tuple(sorted({str(code) for code in stores})),
                minimum_amount=_decimal(data.get("minimum_amount", 0), f"{path}.minimum_amount"),
            )
        except RuleError as exc:
            if exc.path.startswith(path):
                raise
            raise RuleError(exc.message, f"{path}.{exc.path}" if exc.path else path) from exc


@dataclass(frozen=True, slots=True)
class StampCard:
    """Every `every`-th qualifying purchase (from `minimum_amount`) earns `bonus` points."""

    every: int
    bonus: int
    minimum_amount: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        if self.every < 1:
            raise RuleError("a stamp card needs at least 1 visit", "every")
        if self.bonus < 1:
            raise RuleError("a stamp card's bonus must be at least 1 point", "bonus")
        _not_negative(self.minimum_amount, "minimum_amount", "minimum amount")

    def qualifies(self, amount: Decimal) -> bool:
        return amount > 0 and amount >= self.minimum_amount

    def bonus_for_visit(self, visit: int) -> int:
        """The bonus earned by the `visit`-th qualifying purchase (1-based): `bonus` on every Nth, else 0."""
        return self.bonus if visit > 0 and visit % self.every == 0 else 0

    def to_dict(self) -> dict[str, Any]:
        return {"every": self.every, "bonus": self.bonus, "minimum_amount": str(self.minimum_amount)}


@dataclass(frozen=True, slots=True)
class BonusActions:
    """Points for actions rather than purchases; 0 means the program gives none."""

    enrolment: int = 0
    birthday: int = 0
    referral: int = 0

    def __post_init__(self) -> None:
        for name in ("enrolment", "birthday", "referral"):
            _not_negative(getattr(self, name), name, f"{name} bonus")

    def to_dict(self) -> dict[str, int]:
        return {"enrolment": self.enrolment, "birthday": self.birthday, "referral": self.referral}


@dataclass(frozen=True, slots=True)
class Rule:
    bands: tuple[Band, ...]
    base_rate: Decimal = Decimal(0)
    minimum_purchase: Decimal = Decimal(0)
    promotions: tuple[Promotion, ...] = ()
    promotion_mode: str = "stack"
    stamp_card: StampCard | None = None
    bonuses: BonusActions = field(default_factory=BonusActions)

    def __post_init__(self) -> None:
        for index, (earlier, later) in enumerate(pairwise(self.bands), start=1):
            if later.threshold <= earlier.threshold:
                raise RuleError(
                    f"threshold {later.threshold} must be more than the band before it ({earlier.threshold}): "
                    "thresholds are strictly increasing",
                    f"bands.{index}.threshold",
                )
        _not_negative(self.base_rate, "base_rate", "base rate")
        if self.base_rate > 0 and self.bands and self.bands[0].threshold == 0:
            raise RuleError("a base rate overlaps a band starting at 0: use one or the other", "base_rate")
        _not_negative(self.minimum_purchase, "minimum_purchase", "minimum purchase")
        if self.promotion_mode not in PROMOTION_MODES:
            raise RuleError(f"promotion mode must be one of {', '.join(PROMOTION_MODES)}", "promotion_mode")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Rule:
        """Build a rule from its stored form. The oldest form, {"bands": [...]}, is still a whole rule."""
        if not isinstance(data, Mapping):
            raise RuleError("malformed rule: not an object")
        bands = []
        raw_bands = data.get("bands", [])
        if not isinstance(raw_bands, list | tuple):
            raise RuleError("malformed rule: bands must be a list", "bands")
        for index, band in enumerate(raw_bands):
            path = f"bands.{index}"
            if not isinstance(band, Mapping):
                raise RuleError("malformed rule: a band must be an object", path)
            for key in ("threshold", "rate"):
                if key not in band:
                    raise RuleError(f"malformed rule: the band has no {key}", f"{path}.{key}")
            threshold = _whole(band["threshold"], f"{path}.threshold", "threshold")
            rate = _decimal(band["rate"], f"{path}.rate")
            try:
                bands.append(Band(threshold=threshold, rate=rate))
            except RuleError as exc:
                raise RuleError(exc.message, f"{path}.{exc.path}") from exc
        promotions = []
        raw_promotions = data.get("promotions", [])
        if not isinstance(raw_promotions, list | tuple):
            raise RuleError("promotions must be a list", "promotions")
        for index, promotion in enumerate(raw_promotions):
            promotions.append(Promotion.from_dict(promotion, f"promotions.{index}"))
        stamp_card = None
        if data.get("stamp_card"):
            raw = data["stamp_card"]
            if not isinstance(raw, Mapping):
                raise RuleError("the stamp card must be an object", "stamp_card")
            every = _whole(raw.get("every", 0), "stamp_card.every", "visits")
            bonus = _whole(raw.get("bonus", 0), "stamp_card.bonus", "bonus")
            minimum = _decimal(raw.get("minimum_amount", 0), "stamp_card.minimum_amount")
            try:
                stamp_card = StampCard(every=every, bonus=bonus, minimum_amount=minimum)
            except RuleError as exc:
                raise RuleError(exc.message, f"stamp_card.{exc.path}") from exc
        raw_bonuses = data.get("bonuses") or {}
        if not isinstance(raw_bonuses, Mapping):
            raise RuleError("bonuses must be an object", "bonuses")
        try:
            bonuses = BonusActions(
                **{
                    name: _whole(raw_bonuses.get(name, 0), f"bonuses.{name}", "bonus")
                    for name in ("enrolment", "birthday", "referral")
                }
            )
        except RuleError as exc:
            raise RuleError(exc.message, exc.path if exc.path.startswith("bonuses") else f"bonuses.{exc.path}") from exc
        return cls(
            bands=tuple(bands),
            base_rate=_decimal(data.get("base_rate", 0), "base_rate"),
            minimum_purchase=_decimal(data.get("minimum_purchase", 0), "minimum_purchase"),
            promotions=tuple(promotions),
            promotion_mode=str(data.get("promotion_mode", "stack")),
            stamp_card=stamp_card,
            bonuses=bonuses,
        )

    def to_dict(self) -> dict[str, Any]:
        """The stored form. A rule with bands only stores as {"bands": [...]}, as it always has."""
        data: dict[str, Any] = {"bands": [{"threshold": b.threshold, "rate": str(b.rate)} for b in self.bands]}
        if self.base_rate:
            data["base_rate"] = str(self.base_rate)
        if self.minimum_purchase:
            data["minimum_purchase"] = str(self.minimum_purchase)
        if self.promotions:
            data["promotions"] = [promotion.to_dict() for promotion in self.promotions]
            data["promotion_mode"] = self.promotion_mode
        if self.stamp_card is not None:
            data["stamp_card"] = self.stamp_card.to_dict()
        if self.bonuses != BonusActions():
            data["bonuses"] = self.bonuses.to_dict()
        return data

    def promotions_in_force(self, on: dt.date | None, store: str | None) -> tuple[int, ...]:
        """Indexes of the promotions covering a purchase on `on` at `store`, before minimum amounts."""
        return tuple(i for i, promotion in enumerate(self.promotions) if promotion.in_force(on, store))

    @property
    def has_fractional_minimums(self) -> bool:
        """Whether some minimum amount is not a whole unit, so that cents matter (the simulator's memo key)."""
        minimums = [self.minimum_purchase, *(p.minimum_amount for p in self.promotions)]
        return any(m != m.to_integral_value() for m in minimums)


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
class PromotionPart:
    """One promotion step: the points `before` it and `after` it."""

    name: str
    kind: str
    multiplier: Decimal
    bonus: int
    before: int
    after: int

    def describe(self) -> str:
        step = f"×{_plain(self.multiplier)}" if self.kind == "multiplier" else f"+{self.bonus}"
        return f"{self.name} {step} → {self.after}"


@dataclass(frozen=True, slots=True)
class Earning:
    amount: Decimal
    points: int
    parts: tuple[BandPart, ...]
    promotions: tuple[PromotionPart, ...] = ()
    below_minimum: Decimal | None = None  # the minimum purchase, when the amount is below it
    # The customer's tier multiplier, applied last and rounded down; 1 leaves the points as they are.
    tier_multiplier: Decimal = Decimal(1)

    @property
    def band_points(self) -> int:
        return sum(part.points for part in self.parts)

    def explain(self) -> str:
        """One line a cashier or an auditor can read:
        '120.00: 50 × 1 (50–100) + 20 × 2 (over 100) = 90; Tuesday promotion ×2 → 180'."""
        if self.below_minimum is not None:
            return f"{self.amount:.2f}: below the minimum purchase of {self.below_minimum:.2f} = 0"
        counted = [part for part in self.parts if part.units > 0]
        if not counted:
            line = f"{self.amount:.2f}: below every band = 0"
        else:
            line = f"{self.amount:.2f}: " + " + ".join(p.describe() for p in counted) + f" = {self.band_points}"
        steps = [line, *(step.describe() for step in self.promotions)]
        if self.tier_multiplier != 1:
            steps.append(f"tier ×{_plain(self.tier_multiplier)} → {self.points}")
        return "; ".join(steps)

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "amount": f"{self.amount:.2f}",
            "points": self.points,
            "parts": [
                {"lower": p.lower, "upper": p.upper, "units": p.units, "rate": str(p.rate), "points": p.points}
                for p in self.parts
                if p.units > 0
            ],
        }
        if self.promotions:
            data["promotions"] = [
                {"name": s.name, "kind": s.kind, "multiplier": str(s.multiplier), "bonus": s.bonus, "after": s.after}
                for s in self.promotions
            ]
        if self.below_minimum is not None:
            data["below_minimum"] = f"{self.below_minimum:.2f}"
        if self.tier_multiplier != 1:
            # Refunds reverse by the multiplier the purchase earned with (rewards.services.reversal_entry).
            data["tier_multiplier"] = str(self.tier_multiplier)
        return data


def _plain(number: Decimal) -> str:
    return format(number.normalize(), "f") if number == number.to_integral_value() else str(number)


def whole_units(amount: Decimal) -> int:
    """The whole currency units of an amount, rounded down (120.99 -> 120)."""
    if amount < 0:
        raise ValueError("amount must not be negative")
    return _floor(amount)


def _band_parts(units: int, rule: Rule) -> list[BandPart]:
    parts = []
    if rule.base_rate > 0:
        upper = rule.bands[0].threshold if rule.bands else None
        counted = units if upper is None else min(units, upper)
        parts.append(
            BandPart(lower=0, upper=upper, units=counted, rate=rule.base_rate, points=_floor(counted * rule.base_rate))
        )
    for index, band in enumerate(rule.bands):
        upper = rule.bands[index + 1].threshold if index + 1 < len(rule.bands) else None
        top = units if upper is None else min(units, upper)
        counted = max(0, top - band.threshold)
        parts.append(
            BandPart(
                lower=band.threshold, upper=upper, units=counted, rate=band.rate, points=_floor(counted * band.rate)
            )
        )
    return parts


def _promotion_steps(amount: Decimal, points: int, promotions: Iterable[Promotion], mode: str) -> list[PromotionPart]:
    applicable = [p for p in promotions if amount >= p.minimum_amount]
    if not applicable:
        return []
    if mode == "best":
        # The first listed wins a tie: max() keeps the first of equal keys.
        applicable = [max(applicable, key=lambda p: p.apply(points))]
    else:
        # Stacking: multipliers first (in the order listed), then fixed bonuses, so a bonus is not multiplied.
        applicable = [p for p in applicable if p.kind == "multiplier"] + [p for p in applicable if p.kind == "bonus"]
    steps = []
    for promotion in applicable:
        after = promotion.apply(points)
        steps.append(
            PromotionPart(promotion.name, promotion.kind, promotion.multiplier, promotion.bonus, points, after)
        )
        points = after
    return steps


def earn(
    amount: Decimal,
    rule: Rule,
    *,
    on: dt.date | None = None,
    store: str | None = None,
    tier_multiplier: Decimal = Decimal(1),
) -> Earning:
    """The points a purchase of `amount` earns under `rule`, with each band's part and each promotion's step.

    `on` is the purchase's date in the merchant's time zone and `store` its store code: promotions apply
    only with them. The customer's tier multiplier applies last, rounded down to a whole point.
    """
    earning = _earn(amount, rule, on=on, store=store)
    if tier_multiplier == 1:
        return earning
    return dataclasses.replace(
        earning, points=_floor(earning.points * tier_multiplier), tier_multiplier=tier_multiplier
    )


def _earn(amount: Decimal, rule: Rule, *, on: dt.date | None, store: str | None) -> Earning:
    units = whole_units(amount)
    if amount < rule.minimum_purchase:
        parts = [BandPart(p.lower, p.upper, 0, p.rate, 0) for p in _band_parts(0, rule)]
        return Earning(amount=amount, points=0, parts=tuple(parts), below_minimum=rule.minimum_purchase)
    parts = _band_parts(units, rule)
    points = sum(part.points for part in parts)
    in_force = [rule.promotions[i] for i in rule.promotions_in_force(on, store)]
    steps = _promotion_steps(amount, points, in_force, rule.promotion_mode)
    if steps:
        points = steps[-1].after
    return Earning(amount=amount, points=points, parts=tuple(parts), promotions=tuple(steps))


def reversal(
    *,
    purchase_amount: Decimal,
    refunded_before: Decimal,
    refund: Decimal,
    rule: Rule,
    on: dt.date | None = None,
    store: str | None = None,
    tier_multiplier: Decimal = Decimal(1),
) -> int:
    """Points to take back for a refund: the customer keeps the points of what was not refunded.

    The remainder is re-earned under the purchase's rule *and context* (its local date and store), so
    a promotion that applied to the purchase applies to the remainder. A fixed-bonus promotion (or the
    minimum purchase) with a minimum amount is lost when a refund takes the remainder below that
    minimum: the customer keeps exactly what the remainder would have earned as a purchase.

    Returns a number <= 0. Successive partial refunds telescope: after all of them the customer holds
    exactly the points that the unrefunded remainder earns under the purchase's rule.
    """
    remaining_before = purchase_amount - refunded_before
    remaining_after = remaining_before - refund
    if refund < 0 or remaining_after < 0:
        raise ValueError("a refund cannot exceed what is left of the purchase")
    # Points never grow as the amount shrinks (bands, minimums, multipliers above 0 and fixed bonuses are
    # all non-decreasing in the amount), so this is <= 0.
    arguments = {"on": on, "store": store, "tier_multiplier": tier_multiplier}
    return earn(remaining_after, rule, **arguments).points - earn(remaining_before, rule, **arguments).points


__all__: Sequence[str] = (
    "CLASSIC_RULE",
    "WEEKDAYS",
    "Band",
    "BandPart",
    "BonusActions",
    "Earning",
    "Promotion",
    "PromotionPart",
    "Rule",
    "RuleError",
    "StampCard",
    "earn",
    "reversal",
    "whole_units",
)


# ---------------------------------------------------------------------------------------------------
# Expiry: which points lapse, and when. Points are counted in lots, one per customer and calendar month
# of earning; spending (redemptions, deductions) takes the oldest lot first. Each lot lapses under the
# expiry rule in force in its month, never under a later one.

NEVER = "never"
AFTER_MONTHS = "after_months"
INACTIVITY = "inactivity"


@dataclass(frozen=True)
class ExpiryRule:
    kind: str = NEVER
    months: int = 0

    def describe(self) -> str:
        if self.kind == AFTER_MONTHS:
            return f"points expire {self.months} months after the month they were earned"
        if self.kind == INACTIVITY:
            return f"the balance expires after {self.months} months without activity"
        return "points never expire"


@dataclass(frozen=True)
class MonthOfPoints:
    """A customer's ledger in one month, as the roll-up holds it (points by kind, signed as in the ledger)."""

    month: dt.date
    earned: int = 0
    reversed: int = 0
    bonus: int = 0
    redeemed: int = 0
    adjusted: int = 0
    # Any entry other than an expiry (a purchase earning nothing is activity too).
    active: bool = False

    @property
    def credit(self) -> int:
        """Points added in the month. A redemption undone in a later month than it was made gives its points
        back as that month's (a new lot: they lapse no sooner than the spent ones would have)."""
        return max(0, self.earned + self.reversed + self.bonus) + max(self.adjusted, 0) + max(self.redeemed, 0)

    @property
    def debit(self) -> int:
        """Points spent in the month (redemptions net of undos, deductions), and refunds that took more than
        the month earned, taken from the oldest lots."""
        return max(0, -self.redeemed) + max(0, -self.adjusted) + max(0, -(self.earned + self.reversed + self.bonus))


@dataclass(frozen=True)
class Lapse:
    lot: dt.date  # the month the points were earned
    due: dt.date  # the first day of the month at whose start they lapse
    points: int  # what is left of the lot then (positive)
    rule: ExpiryRule


def _next_month(month: dt.date, count: int = 1) -> dt.date:
    index = month.year * 12 + month.month - 1 + count
    return dt.date(index // 12, index % 12 + 1, 1)


def _due(lot: dt.date, rule: ExpiryRule, active_months: Sequence[dt.date]) -> dt.date | None:
    """The month at whose start a lot lapses. After N months: N whole months after its month (points of
    March with N=12 lapse when April of the next year begins). After N months without activity: N whole
    months after the first month, from the lot's own, that is followed by N months with no activity."""
    if rule.kind == AFTER_MONTHS:
        return _next_month(lot, rule.months + 1)
    if rule.kind == INACTIVITY:
        later = [month for month in active_months if month >= lot] or [lot]
        for current, following in pairwise([*later, None]):
            if following is None or following > _next_month(current, rule.months):
                return _next_month(current, rule.months + 1)
    return None


def lapses(
    months: Sequence[MonthOfPoints],
    rule_of: Callable[[dt.date], ExpiryRule],
    *,
    expired: Mapping[dt.date, int],
    until: dt.date,
) -> list[Lapse]:
    """The lots that lapse at the start of a month up to `until` (a month) and have not lapsed yet.

    Walks the customer's months in order: at each month's start the lots due then lapse (those already
    expired by the ledger, `expired` by lot month, count as what the ledger says), then the month's points
    are added as a lot and its spending is taken from the oldest lots still there. So a run after the due
    month (late) finds exactly what an on-time run would have, from the months before the lapse.
    """
    by_month = {row.month: row for row in months}
    active = sorted(row.month for row in months if row.active)
    lots: dict[dt.date, int] = {}
    due: dict[dt.date, dt.date | None] = {}
    rules: dict[dt.date, ExpiryRule] = {}
    for row in months:
        if row.credit:
            rules[row.month] = rule_of(row.month)
            due[row.month] = _due(row.month, rules[row.month], active)
    moments = sorted(set(by_month) | {month for month in due.values() if month is not None})
    found = []
    for month in moments:
        if month > until:
            break
        for lot in sorted(lots):
            if due.get(lot) == month and lots[lot] > 0:
                if lot not in expired:
                    found.append(Lapse(lot=lot, due=month, points=lots[lot], rule=rules[lot]))
                lots[lot] = 0
        row = by_month.get(month)
        if row is None:
            continue
        if row.credit:
            lots[month] = row.credit
        spend = row.debit
        for lot in sorted(lots):
            if spend <= 0:
                break
            taken = min(spend, lots[lot])
            lots[lot] -= taken
            spend -= taken
    return found
