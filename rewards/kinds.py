"""Promotion kinds and bonus actions: one class each, in registries the engine and the program's forms read.

A promotion kind is what a promotion does to a purchase's points (multiply them, add a fixed bonus):
its own settings (`params`), arithmetic (`apply`), description and place in a stack (`order`). A bonus
action is points for something other than a purchase (enrolling, a birthday, referring a friend): its
own setting, the key that makes it once-only and the reason written on the ledger.

A new kind is a new class here, decorated with `@promotion_kind` (or `@bonus_action`), and its tests:
the engine, the stored form and the forms follow from the registry. Pure Python: no Django, no database.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Any, ClassVar

from .schema import NUMBER, WHOLE, Param, build, check_all, dump_all, parse_all, plain

PROMOTION_KINDS: dict[str, type[PromotionKind]] = {}
BONUS_ACTIONS: dict[str, BonusAction] = {}


def floor(number: Decimal) -> int:
    """The one rounding of the engine: down to a whole number."""
    return int(number.to_integral_value(rounding=ROUND_FLOOR))


def promotion_kind(cls: type[PromotionKind]) -> type[PromotionKind]:
    PROMOTION_KINDS[cls.key] = cls
    return cls


def bonus_action(cls: type[BonusAction]) -> type[BonusAction]:
    BONUS_ACTIONS[cls.key] = cls()
    return cls


# --- promotion kinds ---------------------------------------------------------------------------------


class PromotionKind(ABC):
    """What a promotion does to the points of a purchase it covers."""

    key: ClassVar[str]  # the stored "kind"
    label: ClassVar[str]
    params: ClassVar[tuple[Param, ...]]
    # Stacked promotions apply in this order (then as listed): multipliers before fixed bonuses, so that
    # a bonus is not multiplied.
    order: ClassVar[int]

    def __post_init__(self) -> None:
        check_all(self.params, self)

    @abstractmethod
    def apply(self, points: int) -> int:
        """The points after this step, from the points before it (rounded down)."""

    @abstractmethod
    def describe(self) -> str:
        """The step as a cashier reads it: '×2', '+25'."""

    def most(self, points: int) -> int:
        """The most this step can make of `points`: what capacity checks assume (a multiplier below 1 is
        assumed not to apply, since a promotion may not be in force)."""
        return max(points, self.apply(points))

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: str) -> PromotionKind:
        return build(cls, parse_all(cls.params, data, path), path)

    def to_dict(self) -> dict[str, Any]:
        return dump_all(self.params, self)


@promotion_kind
@dataclass(frozen=True, slots=True)
class Multiplier(PromotionKind):
    multiplier: Decimal = Decimal(1)

    key = "multiplier"
    label = "Multiplier"
    order = 0
    params = (
        Param("multiplier", NUMBER, "Multiplier", help="e.g. 2 for double", default=Decimal(1), above=0),
    )

    def apply(self, points: int) -> int:
        return floor(points * self.multiplier)

    def describe(self) -> str:
        return f"×{plain(self.multiplier)}"


@promotion_kind
@dataclass(frozen=True, slots=True)
class FixedBonus(PromotionKind):
    bonus: int = 0

    key = "bonus"
    label = "Fixed bonus"
    order = 1
    params = (
        Param(
            "bonus", WHOLE, "Bonus points", default=0, least=1,
            refusal="a fixed-bonus promotion needs a bonus of at least 1 point",
        ),
    )  # fmt: skip

    def apply(self, points: int) -> int:
        return points + self.bonus

    def describe(self) -> str:
        return f"+{self.bonus}"


def promotion_kind_of(key: str) -> type[PromotionKind]:
    return PROMOTION_KINDS[key]


# --- bonus actions ----------------------------------------------------------------------------------


class BonusAction(ABC):
    """Points for an action rather than a purchase, given once per `ledger_key` and customer."""

    key: ClassVar[str]  # the stored name, e.g. "enrolment"
    label: ClassVar[str]  # "Enrolment bonus"
    help: ClassVar[str] = ""
    # Whether staff may award it by hand from a customer's page (a feedback bonus needs the survey answered).
    staff_awardable: ClassVar[bool] = True

    @property
    def param(self) -> Param:
        """Its setting in a rule: points, 0 (the default) for none."""
        return Param(self.key, WHOLE, self.label, help=self.help, default=0, least=0)

    @abstractmethod
    def ledger_key(self, *, on: dt.date, referred_id: int | None = None, survey_id: int | None = None) -> str:
        """What makes it once-only: the ledger refuses a second bonus with this key for a customer."""

    @abstractmethod
    def reason(self, *, on: dt.date, referred_member: str = "") -> str:
        """The reason written on its ledger entry."""


@bonus_action
class EnrolmentBonus(BonusAction):
    key = "enrolment"
    label = "Enrolment bonus"
    help = "Awarded when the member enrols."

    def ledger_key(self, *, on: dt.date, referred_id: int | None = None, survey_id: int | None = None) -> str:
        return "enrolment"

    def reason(self, *, on: dt.date, referred_member: str = "") -> str:
        return "enrolment bonus"


@bonus_action
class BirthdayBonus(BonusAction):
    key = "birthday"
    label = "Birthday bonus"
    help = "Once a year, in the birthday month."

    def ledger_key(self, *, on: dt.date, referred_id: int | None = None, survey_id: int | None = None) -> str:
        return f"birthday:{on.year}"

    def reason(self, *, on: dt.date, referred_member: str = "") -> str:
        return f"birthday bonus {on.year}"


@bonus_action
class ReferralBonus(BonusAction):
    key = "referral"
    label = "Referral bonus"
    help = "To the referrer, on the new member's first purchase."

    def ledger_key(self, *, on: dt.date, referred_id: int | None = None, survey_id: int | None = None) -> str:
        return f"referral:{referred_id}"

    def reason(self, *, on: dt.date, referred_member: str = "") -> str:
        return f"referral: {referred_member} joined on their recommendation"

    def first_purchase_reason(self, referred_member: str) -> str:
        return f"referral: {referred_member} made a first purchase"


@bonus_action
class FeedbackBonus(BonusAction):
    key = "feedback"
    label = "Feedback bonus"
    help = "When a member answers the after-purchase survey; once per survey."
    staff_awardable = False

    def ledger_key(self, *, on: dt.date, referred_id: int | None = None, survey_id: int | None = None) -> str:
        if survey_id is None:
            raise ValueError("a feedback bonus is keyed by its survey")
        return f"feedback:{survey_id}"

    def reason(self, *, on: dt.date, referred_member: str = "") -> str:
        return "feedback bonus: thank you for answering the survey"


class BonusActions:
    """The points a rule gives for each bonus action (BONUS_ACTIONS); 0 means none.
    `BonusActions(enrolment=50).enrolment == 50`; `points("birthday")` names one by its key."""

    __slots__ = ("_points",)

    def __init__(self, **points: int) -> None:
        unknown = sorted(set(points) - set(BONUS_ACTIONS))
        if unknown:
            raise TypeError(f"no such bonus action: {', '.join(unknown)}")
        values = {key: points.get(key, 0) for key in BONUS_ACTIONS}
        for key, value in values.items():
            BONUS_ACTIONS[key].param.check(value)
        object.__setattr__(self, "_points", tuple(values.items()))

    def __getattr__(self, name: str) -> int:
        if name in BONUS_ACTIONS:
            return self.points(name)
        raise AttributeError(name)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("BonusActions are frozen")

    def points(self, key: str) -> int:
        return dict(self._points)[key]

    def items(self) -> tuple[tuple[str, int], ...]:
        return self._points

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BonusActions) and self._points == other._points

    def __hash__(self) -> int:
        return hash(self._points)

    def __bool__(self) -> bool:
        return any(points for _key, points in self._points)

    def __repr__(self) -> str:
        return f"BonusActions({', '.join(f'{key}={value}' for key, value in self._points)})"

    @classmethod
    def from_dict(cls, data: Any, path: str = "bonuses") -> BonusActions:
        params = tuple(action.param for action in BONUS_ACTIONS.values())
        return build(cls, parse_all(params, data or {}, path), path)

    def to_dict(self) -> dict[str, int]:
        return dict(self._points)
