"""The points arithmetic: pure Python, no Django, no database.

A rule has spend bands. Each band has a threshold and a rate: the points earned for each whole
currency unit of the amount above that threshold, up to the next band's threshold. An optional base
rate earns on the units from zero up to the first threshold (it is a band at zero by another name).
Below the rule's minimum purchase nothing is earned at all.

The classic rule is two bands, (50 -> 1) and (100 -> 2): a 120.00 purchase earns
50 x 1 for the dollars from 50 to 100 plus 20 x 2 for the dollars over 100 = 90 points.

On top of the bands, a rule may carry:
- promotions: for purchases on local dates in a range, optionally only on some weekdays, at some
  stores, or from a minimum amount, a promotion of some kind (rewards.kinds: a multiplier, a fixed
  bonus...) changes the points. With `promotion_mode` "stack" every promotion that applies is used (in
  the kinds' order: multipliers first, then fixed bonuses; as listed within a kind); with "best" only the
  one giving the most points (the first listed on a tie).
- a stamp card: every Nth qualifying purchase (optionally from a minimum amount) earns a fixed bonus.
  The engine says whether a purchase qualifies and what the Nth visit earns; counting the visits is
  the ledger's business (rewards.services.bonuses).
- bonus actions (rewards.kinds): points for enrolling, in the birthday month, for referring a customer.

Rounding, written down once, always *down* (ROUND_FLOOR), in `kinds.floor`:
- only whole currency units earn: the amount is rounded down to a whole unit before the bands apply
  (120.99 earns as 120);
- a band's points are rounded down to a whole point when its rate is fractional;
- each promotion step is rounded down to a whole point when its multiplier is fractional;
- the customer's tier multiplier applies last (after promotions) and is rounded down to a whole point.
Minimum amounts (the minimum purchase, a promotion's, the stamp card's) compare the exact amount.

Promotions apply only when the purchase's context is given: `earn(amount, rule, on=local_date,
store=store_code)`. `earn(amount, rule)` without context earns the bands alone.

Capacity: one ledger entry holds at most MOST_POINTS_PER_ENTRY points. `check_capacity` refuses a rule
under which the largest accepted purchase, with every promotion applied and at the highest tier, would
earn more (and a bonus larger than that), naming the field; `earn` itself refuses to return more.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from itertools import pairwise
from typing import Any

from .calendar import add_months
from .kinds import (
    BONUS_ACTIONS,
    PROMOTION_KINDS,
    BonusActions,
    FixedBonus,
    Multiplier,
    PromotionKind,
    floor,
)
from .schema import (
    AMOUNT,
    CHOICE,
    CODES,
    DATE,
    DAYS,
    MOST_POINTS_PER_ENTRY,
    NUMBER,
    TEXT,
    WEEKDAYS,
    WHOLE,
    Param,
    RuleError,
    build,
    check_all,
    dump_all,
    parse_all,
    plain,
)

# A tier multiplier is stored with two places, below 100.
TIER_MULTIPLIER_MOST = Decimal("99.99")
PROMOTION_MODES = (("stack", "Stack: every promotion that applies"), ("best", "Best: only the one worth most"))


@dataclass(frozen=True, slots=True)
class Band:
    threshold: int
    rate: Decimal

    params = (
        Param("threshold", WHOLE, "From (whole units)", least=0, required=True),
        Param("rate", NUMBER, "Points per unit above it", least=0, required=True),
    )

    def __post_init__(self) -> None:
        check_all(self.params, self)


@dataclass(frozen=True, slots=True)
class Promotion:
    """A promotion of some kind (`effect`: a Multiplier, a FixedBonus...) for purchases on local dates from
    `starts` to `ends` inclusive, optionally only on `weekdays` (0 = Monday), at `stores` (store codes)
    and from `minimum_amount`."""

    name: str
    starts: dt.date
    ends: dt.date
    effect: PromotionKind
    weekdays: tuple[int, ...] = ()
    stores: tuple[str, ...] = ()
    minimum_amount: Decimal = Decimal(0)

    # What every promotion has, whatever its kind (its kind's own settings are the kind's `params`).
    params = (
        Param("name", TEXT, "Name", required=True, refusal="a promotion needs a name"),
        Param(
            "kind", CHOICE, "Kind", default=Multiplier.key,
            choices=tuple((key, kind.label) for key, kind in PROMOTION_KINDS.items()),
        ),
        Param("starts", DATE, "Starts", required=True, refusal="this date is required"),
        Param("ends", DATE, "Ends", required=True, refusal="this date is required"),
        Param("weekdays", DAYS, "Weekdays", help="None ticked: every day", default=()),
        Param("stores", CODES, "Stores", help="None ticked: every store", default=()),
        Param("minimum_amount", AMOUNT, "Minimum amount", default=Decimal(0), least=0),
    )  # fmt: skip

    def __post_init__(self) -> None:
        check_all(self.params, self)
        if self.ends < self.starts:
            raise RuleError(f"the promotion ends ({self.ends}) before it starts ({self.starts})", "ends")

    @property
    def kind(self) -> str:
        return self.effect.key

    def in_force(self, on: dt.date | None, store: str | None) -> bool:
        """Whether the promotion covers a purchase on local date `on` at store `store` (any amount)."""
        if on is None or not self.starts <= on <= self.ends:
            return False
        if self.weekdays and on.weekday() not in self.weekdays:
            return False
        return not self.stores or store in self.stores

    def apply(self, points: int) -> int:
        return self.effect.apply(points)

    def describe(self) -> str:
        return f"{self.name} {self.effect.describe()}"

    def to_dict(self) -> dict[str, Any]:
        return dump_all(self.params, self) | self.effect.to_dict()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str) -> Promotion:
        if not isinstance(data, Mapping):
            raise RuleError("a promotion must be an object", path)
        values = parse_all(cls.params, data, path)
        kind = PROMOTION_KINDS.get(values.pop("kind"))
        if kind is None:
            raise RuleError(f"kind must be one of {', '.join(PROMOTION_KINDS)}", f"{path}.kind")
        values["effect"] = kind.from_dict(data, path)
        return build(cls, values, path)


@dataclass(frozen=True, slots=True)
class StampCard:
    """Every `every`-th qualifying purchase (from `minimum_amount`) earns `bonus` points."""

    every: int
    bonus: int
    minimum_amount: Decimal = Decimal(0)

    params = (
        Param("every", WHOLE, "Stamp card: every Nth visit", help="Leave blank for no stamp card.", default=0,
              least=1, refusal="a stamp card needs at least 1 visit"),
        Param("bonus", WHOLE, "Stamp card: bonus points", default=0, least=1,
              refusal="a stamp card's bonus must be at least 1 point"),
        Param("minimum_amount", AMOUNT, "Stamp card: minimum purchase", default=Decimal(0), least=0),
    )  # fmt: skip

    def __post_init__(self) -> None:
        check_all(self.params, self)

    def qualifies(self, amount: Decimal) -> bool:
        return amount > 0 and amount >= self.minimum_amount

    def bonus_for_visit(self, visit: int) -> int:
        """The bonus earned by the `visit`-th qualifying purchase (1-based): `bonus` on every Nth, else 0."""
        return self.bonus if visit > 0 and visit % self.every == 0 else 0

    def to_dict(self) -> dict[str, Any]:
        return dump_all(self.params, self)

    @classmethod
    def from_dict(cls, data: Any, path: str = "stamp_card") -> StampCard:
        if not isinstance(data, Mapping):
            raise RuleError("the stamp card must be an object", path)
        return build(cls, parse_all(cls.params, data, path), path)


@dataclass(frozen=True, slots=True)
class Rule:
    bands: tuple[Band, ...]
    base_rate: Decimal = Decimal(0)
    minimum_purchase: Decimal = Decimal(0)
    promotions: tuple[Promotion, ...] = ()
    promotion_mode: str = "stack"
    stamp_card: StampCard | None = None
    bonuses: BonusActions = field(default_factory=BonusActions)

    # The rule's own settings (its bands, promotions, stamp card and bonuses declare theirs).
    params = (
        Param("base_rate", NUMBER, "Base rate", help="Points per whole unit from zero up to the first threshold "
              "(optional).", default=Decimal(0), least=0),
        Param("minimum_purchase", AMOUNT, "Minimum purchase", help="Below this amount a purchase earns nothing.",
              default=Decimal(0), least=0),
        Param("promotion_mode", CHOICE, "Promotion mode", default="stack", choices=PROMOTION_MODES),
    )  # fmt: skip

    def __post_init__(self) -> None:
        for index, (earlier, later) in enumerate(pairwise(self.bands), start=1):
            if later.threshold <= earlier.threshold:
                raise RuleError(
                    f"threshold {later.threshold} must be more than the band before it ({earlier.threshold}): "
                    "thresholds are strictly increasing",
                    f"bands.{index}.threshold",
                )
        check_all(self.params, self)
        if self.base_rate > 0 and self.bands and self.bands[0].threshold == 0:
            raise RuleError("a base rate overlaps a band starting at 0: use one or the other", "base_rate")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Rule:
        """Build a rule from its stored form. The oldest form, {"bands": [...]}, is still a whole rule."""
        if not isinstance(data, Mapping):
            raise RuleError("malformed rule: not an object")
        raw_bands = data.get("bands", [])
        if not isinstance(raw_bands, list | tuple):
            raise RuleError("malformed rule: bands must be a list", "bands")
        bands = []
        for index, band in enumerate(raw_bands):
            path = f"bands.{index}"
            if not isinstance(band, Mapping):
                raise RuleError("malformed rule: a band must be an object", path)
            for param in Band.params:
                if param.name not in band:
                    raise RuleError(f"malformed rule: the band has no {param.name}", f"{path}.{param.name}")
            bands.append(build(Band, parse_all(Band.params, band, path), path))
        raw_promotions = data.get("promotions", [])
        if not isinstance(raw_promotions, list | tuple):
            raise RuleError("promotions must be a list", "promotions")
        promotions = [Promotion.from_dict(raw, f"promotions.{index}") for index, raw in enumerate(raw_promotions)]
        raw_bonuses = data.get("bonuses") or {}
        if not isinstance(raw_bonuses, Mapping):
            raise RuleError("bonuses must be an object", "bonuses")
        return cls(
            bands=tuple(bands),
            promotions=tuple(promotions),
            stamp_card=StampCard.from_dict(data["stamp_card"]) if data.get("stamp_card") else None,
            bonuses=BonusActions.from_dict(raw_bonuses),
            **parse_all(cls.params, data, ""),
        )

    def to_dict(self) -> dict[str, Any]:
        """The stored form. A rule with bands only stores as {"bands": [...]}, as it always has."""
        data: dict[str, Any] = {"bands": [dump_all(Band.params, band) for band in self.bands]}
        settings = dump_all(self.params, self)
        if self.base_rate:
            data["base_rate"] = settings["base_rate"]
        if self.minimum_purchase:
            data["minimum_purchase"] = settings["minimum_purchase"]
        if self.promotions:
            data["promotions"] = [promotion.to_dict() for promotion in self.promotions]
            data["promotion_mode"] = settings["promotion_mode"]
        if self.stamp_card is not None:
            data["stamp_card"] = self.stamp_card.to_dict()
        if self.bonuses:
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
class Context:
    """When and where a purchase happened, as promotions see it: its local date and its store's code.
    Empty (false) where it cannot matter: under a rule without promotions."""

    on: dt.date | None = None
    store: str | None = None

    @classmethod
    def of(cls, rule: Rule, *, on: dt.date, store: str) -> Context:
        return cls(on, store) if rule.promotions else cls()

    def __bool__(self) -> bool:
        return self.on is not None

    def arguments(self) -> dict[str, Any]:
        """Keyword arguments of `earn` and `reversal`."""
        return {"on": self.on, "store": self.store} if self else {}

    def as_dict(self) -> dict[str, str]:
        return {"on": self.on.isoformat(), "store": self.store} if self else {}

    @classmethod
    def from_dict(cls, data: Mapping[str, str] | None) -> Context:
        return cls(dt.date.fromisoformat(data["on"]), data["store"]) if data else cls()


# --- an earning and its account ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Line:
    """One line of an account of points: what it is and the points it adds. An account's lines sum to
    its points, so a till or a statement can list them and they add up."""

    label: str
    points: int


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
        return f"{self.units} × {plain(self.rate)} ({span})"


@dataclass(frozen=True, slots=True)
class PromotionPart:
    """One promotion step: the points `before` it and `after` it."""

    name: str
    effect: PromotionKind
    before: int
    after: int

    @property
    def kind(self) -> str:
        return self.effect.key

    def describe(self) -> str:
        return f"{self.name} {self.effect.describe()} → {self.after}"

    def as_dict(self) -> dict[str, Any]:
        # Every kind's settings, this step's values or the kinds' defaults, so every step has the same keys.
        settings = {p.name: p.dump(p.default) for kind in PROMOTION_KINDS.values() for p in kind.params}
        return {"name": self.name, "kind": self.kind, **settings, **self.effect.to_dict(), "after": self.after}


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

    def lines(self) -> tuple[Line, ...]:
        """The account as lines that sum to `points`: each band that counted, each promotion step, the tier."""
        if self.below_minimum is not None:
            return (Line(f"below the minimum purchase of {self.below_minimum:.2f}", 0),)
        lines = [Line(part.describe(), part.points) for part in self.parts if part.units > 0]
        if not lines:
            lines.append(Line("below every band", 0))
        lines += [Line(f"{step.name} {step.effect.describe()}", step.after - step.before) for step in self.promotions]
        if self.tier_multiplier != 1:
            before = self.promotions[-1].after if self.promotions else self.band_points
            lines.append(Line(f"tier ×{plain(self.tier_multiplier)}", self.points - before))
        return tuple(lines)

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
            steps.append(f"tier ×{plain(self.tier_multiplier)} → {self.points}")
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
            data["promotions"] = [step.as_dict() for step in self.promotions]
        if self.below_minimum is not None:
            data["below_minimum"] = f"{self.below_minimum:.2f}"
        if self.tier_multiplier != 1:
            data["tier_multiplier"] = str(self.tier_multiplier)
        return data


class TooManyPoints(RuleError):
    """An earning larger than one ledger entry holds (a rule published before capacity was checked)."""


def whole_units(amount: Decimal) -> int:
    """The whole currency units of an amount, rounded down (120.99 -> 120)."""
    if amount < 0:
        raise ValueError("amount must not be negative")
    return floor(amount)


def _band_parts(units: int, rule: Rule) -> list[BandPart]:
    parts = []
    if rule.base_rate > 0:
        upper = rule.bands[0].threshold if rule.bands else None
        counted = units if upper is None else min(units, upper)
        parts.append(
            BandPart(lower=0, upper=upper, units=counted, rate=rule.base_rate, points=floor(counted * rule.base_rate))
        )
    for index, band in enumerate(rule.bands):
        upper = rule.bands[index + 1].threshold if index + 1 < len(rule.bands) else None
        top = units if upper is None else min(units, upper)
        counted = max(0, top - band.threshold)
        parts.append(
            BandPart(
                lower=band.threshold, upper=upper, units=counted, rate=band.rate, points=floor(counted * band.rate)
            )
        )
    return parts


def _stacked(promotions: Iterable[Promotion]) -> list[Promotion]:
    """Promotions in the order they stack: by their kind's order, then as listed."""
    return sorted(promotions, key=lambda promotion: promotion.effect.order)


def _promotion_steps(amount: Decimal, points: int, promotions: Iterable[Promotion], mode: str) -> list[PromotionPart]:
    applicable = [p for p in promotions if amount >= p.minimum_amount]
    if not applicable:
        return []
    # Best: the first listed wins a tie (max() keeps the first of equal keys).
    applicable = [max(applicable, key=lambda p: p.apply(points))] if mode == "best" else _stacked(applicable)
    steps = []
    for promotion in applicable:
        after = promotion.apply(points)
        steps.append(PromotionPart(promotion.name, promotion.effect, points, after))
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
    Refused with TooManyPoints when that is more than one ledger entry holds.
    """
    earning = _earn(amount, rule, on=on, store=store)
    if tier_multiplier != 1:
        earning = dataclasses.replace(
            earning, points=floor(earning.points * tier_multiplier), tier_multiplier=tier_multiplier
        )
    if earning.points > MOST_POINTS_PER_ENTRY:
        raise TooManyPoints(
            f"a purchase of {amount:,.2f} would earn {earning.points:,} points, more than one ledger entry "
            f"holds ({MOST_POINTS_PER_ENTRY:,})"
        )
    return earning


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


def points_key(amount: Decimal, rule: Rule, *, on: dt.date | None = None, store: str | None = None) -> tuple:
    """All that the points `earn` gives a purchase depend on, under `rule` and at a given tier multiplier: its
    whole units (its exact amount when some minimum amount has cents: minimums compare the exact amount) and
    which promotions are in force for its day and store. Purchases with equal keys earn equal points, so a
    reader of many purchases computes each key once (the file report, transactions.import_tally)."""
    units = amount if rule.has_fractional_minimums else whole_units(amount)
    return units, rule.promotions_in_force(on, store) if rule.promotions else ()


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


# --- capacity: what one ledger entry can hold ---------------------------------------------------------


@dataclass(frozen=True)
class MostPoints:
    """The most a rule can earn for one purchase of `amount`: every band at that amount, every promotion
    that could apply to it (stacked, or the best one), before any tier. `path` names the field of the last
    step that raised it (the largest band, then each promotion), where a refusal is put."""

    amount: Decimal
    points: int
    path: str


def most_points(rule: Rule, amount: Decimal, *, limit: int | None = None) -> MostPoints:
    """The most `rule` can earn for one purchase of `amount` (see MostPoints). With `limit`, the walk stops
    at the first step that goes over it, so `path` names the field that did."""
    parts = _band_parts(whole_units(amount), rule) if amount >= rule.minimum_purchase else []
    points = sum(part.points for part in parts)
    largest = max(range(len(parts)), key=lambda index: parts[index].points, default=None)
    path = ""
    if largest is not None:
        offset = 1 if rule.base_rate > 0 else 0
        path = "base_rate" if largest < offset else f"bands.{largest - offset}.rate"
    if limit is not None and points > limit:
        return MostPoints(amount, points, path)
    candidates = [(index, p) for index, p in enumerate(rule.promotions) if amount >= p.minimum_amount]
    if rule.promotion_mode == "best" and candidates:
        index, best = max(candidates, key=lambda item: item[1].effect.most(points))
        candidates = [(index, best)]
    for index, promotion in sorted(candidates, key=lambda item: item[1].effect.order):
        if promotion.effect.most(points) > points:
            points = promotion.effect.most(points)
            path = f"promotions.{index}.{promotion.effect.params[0].name}"
        if limit is not None and points > limit:
            break
    return MostPoints(amount, points, path)


def check_capacity(
    rule: Rule, *, max_amount: Decimal, tier_multiplier: Decimal = Decimal(1), limit: int = MOST_POINTS_PER_ENTRY
) -> None:
    """Refuse (RuleError naming the field) a rule that could put more than `limit` points on one entry:
    a purchase of `max_amount` with every promotion applied at `tier_multiplier` (the program's highest
    tier), a stamp-card bonus, or a bonus action."""
    if rule.stamp_card is not None and rule.stamp_card.bonus > limit:
        raise RuleError(f"at most {limit:,} points: one ledger entry holds no more", "stamp_card.bonus")
    for key, points in rule.bonuses.items():
        if points > limit:
            raise RuleError(f"at most {limit:,} points: one ledger entry holds no more", f"bonuses.{key}")
    before_tier = limit if tier_multiplier == 1 else None
    most = most_points(rule, max_amount, limit=before_tier)
    points = floor(most.points * tier_multiplier)
    if points > limit:
        tier = f" at the highest tier (×{plain(tier_multiplier)})" if tier_multiplier != 1 else ""
        raise RuleError(
            f"too large: a purchase of {max_amount:,.2f} (the largest accepted) would earn {points:,} points{tier} "
            f"with every promotion applied, more than one ledger entry holds ({limit:,})",
            most.path,
        )


def highest_tier_multiplier(
    rules: Iterable[Rule], *, max_amount: Decimal, limit: int = MOST_POINTS_PER_ENTRY
) -> Decimal:
    """The largest tier multiplier (to two places) under which none of `rules` can put more than `limit`
    points on one entry."""
    most = max((most_points(rule, max_amount).points for rule in rules), default=0)
    if most == 0:
        return TIER_MULTIPLIER_MOST
    multiplier = (Decimal(limit + 1) / most).quantize(Decimal("0.01"), rounding=ROUND_FLOOR)
    if floor(most * multiplier) > limit:
        multiplier -= Decimal("0.01")
    return min(TIER_MULTIPLIER_MOST, multiplier)


__all__: Sequence[str] = (
    "BONUS_ACTIONS",
    "CLASSIC_RULE",
    "MOST_POINTS_PER_ENTRY",
    "PROMOTION_KINDS",
    "WEEKDAYS",
    "Band",
    "BandPart",
    "BonusActions",
    "Context",
    "Earning",
    "FixedBonus",
    "Line",
    "Multiplier",
    "Promotion",
    "PromotionPart",
    "Rule",
    "RuleError",
    "StampCard",
    "TooManyPoints",
    "check_capacity",
    "earn",
    "most_points",
    "points_key",
    "reversal",
    "whole_units",
)


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


def _due(lot: dt.date, rule: ExpiryRule, active_months: Sequence[dt.date]) -> dt.date | None:
    """The month at whose start a lot lapses. After N months: N whole months after its month (points of
    March with N=12 lapse when April of the next year begins). After N months without activity: N whole
    months after the first month, from the lot's own, that is followed by N months with no activity."""
    if rule.kind == AFTER_MONTHS:
        return add_months(lot, rule.months + 1)
    if rule.kind == INACTIVITY:
        later = [month for month in active_months if month >= lot] or [lot]
        for current, following in pairwise([*later, None]):
            if following is None or following > add_months(current, rule.months):
                return add_months(current, rule.months + 1)
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
    return _walk_lots(months, rule_of, expired=expired, until=until)[0]


def lots_left(
    months: Sequence[MonthOfPoints], rule_of: Callable[[dt.date], ExpiryRule], *, until: dt.date
) -> dict[dt.date, int]:
    """What is left of each lot at the end of month `until` (the same walk as `lapses`: oldest points spent
    first, lots gone at the start of their due month): the points a customer holds, by the month earned."""
    lots = _walk_lots(months, rule_of, expired={}, until=until)[1]
    return {lot: points for lot, points in lots.items() if points > 0}


def _walk_lots(
    months: Sequence[MonthOfPoints],
    rule_of: Callable[[dt.date], ExpiryRule],
    *,
    expired: Mapping[dt.date, int],
    until: dt.date,
) -> tuple[list[Lapse], dict[dt.date, int]]:
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
    return found, lots
