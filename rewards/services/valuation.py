"""What the points are worth: the point value's history, and the merchant's breakage estimate.

Both have history and never rewrite it. A point value starts now or later and never before an entry already in
the ledger, so every entry keeps the value in force at its moment (and the liability roll-up, which stores the
version per entry, never has to move). A breakage estimate applies from an open month: a closed month keeps
the one it was closed with.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

import audit

from ..calendar import EARLIEST_MOMENT
from ..models import BreakageEstimate, PointsEntry, PointValue
from ..selectors import default_program, point_value_versions, value_in
from .books import closed_books, hold_books, month_name
from .program import NOW_TOLERANCE

MAX_POINT_VALUE = Decimal("999999.9999")  # what the column holds: 10 digits, 4 of them decimals
MAX_BREAKAGE_RATE = Decimal(99)


DEFAULT_POINT_VALUE = Decimal("0.0100")


def start_point_values(*, program, value: Decimal = DEFAULT_POINT_VALUE, set_by=None) -> PointValue:
    """A new program's first point value, in force from the earliest moment a merchant can have records."""
    return PointValue.objects.create(
        program=program, effective_from=EARLIEST_MOMENT, value=value, set_by=set_by, note="the program's first value"
    )


def set_point_value(*, value: Decimal, set_by, effective_from: dt.datetime | None = None, note: str = "") -> PointValue:
    """What one point is worth from `effective_from` (now by default, or later; never the past) until the next
    version. Refused beside `value` or `effective_from`. Every entry already in the ledger keeps its value:
    a version starting "now" starts after the latest entry dated by the clock skew the tills are allowed."""
    errors = {}
    if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
        errors["value"] = "A point must be worth more than 0."
    elif value != value.quantize(Decimal("0.0001")):
        errors["value"] = "A point value has at most four decimal places (0.0125)."
    elif value > MAX_POINT_VALUE:
        errors["value"] = f"A point value cannot be more than {MAX_POINT_VALUE}."
    now = timezone.now()
    if effective_from is not None and timezone.is_naive(effective_from):
        raise ValueError("effective_from must be timezone-aware")
    if effective_from is not None and effective_from < now - NOW_TOLERANCE:
        errors["effective_from"] = "A new point value cannot start in the past: history is never rewritten."
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        hold_books()  # no entry is posted meanwhile
        latest = PointsEntry.objects.aggregate(latest=Max("effective_at"))["latest"]
        start = max(effective_from or now, now)
        if latest is not None and latest >= start:
            if effective_from is not None and effective_from > now + NOW_TOLERANCE:
                raise ValidationError(
                    {"effective_from": "Points are already dated at or after that moment: start the value later."}
                )
            start = latest + dt.timedelta(microseconds=1)
        program = default_program()
        previous = value_in(point_value_versions(program), start).value
        version = PointValue.objects.create(
            program=program, effective_from=start, value=value, note=(note or "").strip()[:200], set_by=set_by
        )
        audit.record(
            audit.Event.POINT_VALUE_SET,
            actor=set_by,
            target=version,
            changes={"point value": (previous, value)},
            detail={"effective_from": start, "note": version.note},
        )
    return version


def set_breakage_estimate(*, rate: Decimal | None, reason: str, set_by, effective_month: dt.date) -> BreakageEstimate:
    """The breakage the merchant expects, in percent of points (0 to 99), from `effective_month` (an open
    month) until the next estimate; `rate` None goes back to the rate observed in the ledger. Setting one
    for a month that has one replaces it. Refused beside the field it concerns."""
    reason = (reason or "").strip()
    errors = {}
    if rate is not None and (not rate.is_finite() or not 0 <= rate <= MAX_BREAKAGE_RATE):
        errors["rate"] = f"Give the breakage as a percentage from 0 to {MAX_BREAKAGE_RATE}."
    elif rate is not None and rate != rate.quantize(Decimal("0.01")):
        errors["rate"] = "A percentage has at most two decimal places."
    if not reason:
        errors["reason"] = "Say why: an estimate needs a reason (e.g. the study it comes from)."
    if effective_month.day != 1:
        errors["effective_month"] = "An estimate starts on the first day of a month."
    if errors:
        raise ValidationError(errors)
    rate = None if rate is None else rate.quantize(Decimal("0.01"))
    with transaction.atomic():
        hold_books()  # a month cannot close meanwhile
        books = closed_books()
        if books.month_closed(effective_month):
            raise ValidationError(
                {
                    "effective_month": f"{month_name(effective_month)} is closed: its breakage estimate is final. "
                    f"Set one from {month_name(books.first_open_month)} on."
                }
            )
        program = default_program()
        before = BreakageEstimate.objects.filter(program=program, effective_month__lte=effective_month).last()
        estimate, _ = BreakageEstimate.objects.update_or_create(
            program=program,
            effective_month=effective_month,
            defaults={"rate": rate, "reason": reason[:200], "set_by": set_by, "set_at": timezone.now()},
        )
        audit.record(
            audit.Event.BREAKAGE_ESTIMATE_SET,
            actor=set_by,
            target=estimate,
            changes={
                f"breakage estimate from {effective_month:%Y-%m}": (
                    _shown(before.rate) if before else "observed",
                    _shown(rate),
                )
            },
            detail={"reason": estimate.reason},
        )
    return estimate


def _shown(rate: Decimal | None) -> str:
    return "observed" if rate is None else f"{rate}%"
