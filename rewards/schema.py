"""The rule's schema, written once: every setting a rule can hold is a `Param`, declared by the class that
uses it (a band, a promotion and its kind, the stamp card, a bonus action, the rule itself).

From a Param the engine reads and writes the stored form of a rule (JSON) and checks a value's bounds;
the program's forms build their fields from the same Params (rewards.program_forms). Pure Python: no
Django, no database.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

T = TypeVar("T")

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# The most points one ledger entry may hold: a 32-bit integer, so that every entry fits any column,
# spreadsheet or client that reads it. Sums (balances, the monthly roll-up) are 64-bit.
MOST_POINTS_PER_ENTRY = 2**31 - 1
# Numbers in a stored rule are written with ASCII digits, an optional sign and decimal point, or an
# exponent (old rules stored "1E+1"); Decimal() alone would also accept other scripts' digits.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


class RuleError(ValueError):
    """A rule that cannot be used. `path` names the offending field, e.g. "bands.1.threshold", so a
    form can show the message beside it; "" means the rule as a whole."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.path = path

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message

    def within(self, path: str) -> RuleError:
        """The same refusal, its path prefixed with the container's (`promotions.0` + `ends`)."""
        return RuleError(self.message, f"{path}.{self.path}" if self.path else path)


# The kinds of value a Param holds.
NUMBER = "number"  # a Decimal (a rate, a multiplier)
AMOUNT = "amount"  # money: a Decimal with at most two places (a minimum purchase)
WHOLE = "whole"  # an int (a threshold, points, visits)
DATE = "date"  # a local calendar date
TEXT = "text"
CHOICE = "choice"  # one of `choices`
DAYS = "days"  # a set of weekdays, 0 = Monday
CODES = "codes"  # a set of store codes


@dataclass(frozen=True)
class Param:
    """One setting of a rule: its stored name, what it holds, how a manager is asked for it, and its bounds.

    `least` refuses smaller values (a negative one as "is negative"); `above` refuses values not above
    it; `refusal` words either refusal for the manager. These make a rule usable at all and are checked
    whenever one is built (also when a stored one is read); how many points a rule may give is checked
    when a rule is saved or published (`engine.check_capacity`), never on reading one that was.
    """

    name: str
    kind: str
    label: str
    help: str = ""
    default: Any = None
    least: Decimal | int | None = None
    above: Decimal | int | None = None
    choices: tuple[tuple[str, str], ...] = ()
    required: bool = False
    refusal: str = ""

    # -- the stored form -----------------------------------------------------------------------------

    def parse(self, value: Any, path: str = "") -> Any:
        """The stored (or typed) value as the engine holds it; RuleError naming `path` when it is not one."""
        path = path or self.name
        if value is None or value == "":
            if self.required:
                raise RuleError(self.refusal or "this is required", path)
            return self.default
        if self.kind in (NUMBER, AMOUNT):
            return decimal_of(value, path)
        if self.kind == WHOLE:
            return whole_of(value, path, self.name.replace("_", " "))
        if self.kind == DATE:
            return date_of(value, path)
        if self.kind == DAYS:
            if not isinstance(value, list | tuple):
                raise RuleError(f"{self.name} must be a list", path)
            return tuple(sorted({whole_of(day, path, "weekday") for day in value}))
        if self.kind == CODES:
            if not isinstance(value, list | tuple):
                raise RuleError(f"{self.name} must be a list", path)
            return tuple(sorted({str(code) for code in value}))
        return str(value)

    def dump(self, value: Any) -> Any:
        """The value in the stored form (JSON): decimals as text, dates as ISO, sets as lists."""
        if isinstance(value, Decimal):
            return str(value)
        if isinstance(value, dt.date):
            return value.isoformat()
        if isinstance(value, tuple):
            return list(value)
        return value

    # -- bounds --------------------------------------------------------------------------------------

    def check(self, value: Any) -> None:
        """Refuse a value outside the Param's bounds; RuleError's path is the Param's name."""
        if self.kind == CHOICE and value not in dict(self.choices):
            names = ", ".join(key for key, _label in self.choices)
            raise RuleError(f"{self.name.replace('_', ' ')} must be one of {names}", self.name)
        if self.kind == DAYS and any(day not in range(7) for day in value):
            raise RuleError("weekdays are 0 (Monday) to 6 (Sunday)", self.name)
        if self.kind == TEXT and self.required and not str(value).strip():
            raise RuleError(self.refusal or "this is required", self.name)
        if self.kind not in (NUMBER, AMOUNT, WHOLE) or value is None:
            return
        what = self.name.replace("_", " ")
        if self.least is not None and self.least >= 0 and value < 0:
            raise RuleError(f"{what} {value} is negative", self.name)
        if self.least is not None and value < self.least:
            raise RuleError(self.refusal or f"{what} must be at least {self.least}", self.name)
        if self.above is not None and value <= self.above:
            raise RuleError(self.refusal or f"{what} {value} must be more than {self.above}", self.name)


def check_all(params: tuple[Param, ...], holder: Any) -> None:
    """Check each Param's value on `holder` (a band, a promotion...) against its bounds."""
    for param in params:
        param.check(getattr(holder, param.name))


def parse_all(params: tuple[Param, ...], data: Mapping[str, Any], path: str) -> dict[str, Any]:
    """The values of `params` read from a stored mapping; a RuleError's path is prefixed with `path`."""
    if not isinstance(data, Mapping):
        raise RuleError("malformed rule: not an object", path)
    return {param.name: param.parse(data.get(param.name), f"{path}.{param.name}" if path else "") for param in params}


def build(factory: Callable[..., T], values: dict[str, Any], path: str) -> T:
    """`factory(**values)` (a band, a promotion...), its refusal's path prefixed with the container's."""
    try:
        return factory(**values)
    except RuleError as exc:
        raise exc.within(path) from None


def dump_all(params: tuple[Param, ...], holder: Any) -> dict[str, Any]:
    return {param.name: param.dump(getattr(holder, param.name)) for param in params}


def decimal_of(value: Any, path: str) -> Decimal:
    text = str(value).strip()
    if not _NUMBER.fullmatch(text):
        raise RuleError(f"'{value}' is not a number", path)
    try:
        number = Decimal(text)
    except (InvalidOperation, ValueError) as exc:
        raise RuleError(f"'{value}' is not a number", path) from exc
    if not number.is_finite():
        raise RuleError(f"'{value}' is not a number", path)
    return number


def whole_of(value: Any, path: str, what: str = "value") -> int:
    if isinstance(value, bool):
        raise RuleError(f"'{value}' is not a number", path)
    number = decimal_of(value, path)
    if number != number.to_integral_value():
        raise RuleError(f"{what} {value} is not a whole number", path)
    return int(number)


def date_of(value: Any, path: str) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    text = str(value)
    try:
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
            raise ValueError(text)
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise RuleError(f"'{value}' is not a date (YYYY-MM-DD)", path) from exc


def plain(number: Decimal) -> str:
    """A number as a person writes it: 2 for 2.00, 1.5 for 1.50, 1.25 as it is."""
    if number == number.to_integral_value():
        return format(number.quantize(Decimal(1)), "f")
    return format(number.normalize(), "f")
