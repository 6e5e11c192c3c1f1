"""Month close: a manager closes a month once its books are final; from then on nothing may be dated in it.

Months close in order, so the books are "closed through" the latest closed month: a moment in that month or
before it is closed. The check lives here, in one place, and every door inherits it:

- `check_open(moment)` refuses a purchase (the till, the admin, the API), an adjustment or a recalculation
  dated in a closed month, beside its field; the importer judges each row with `ClosedBooks.refusal`, by line.
- A refund is never refused for it: its reversal is dated in the first open month (`open_moment`), as is a
  late expiry. The refund keeps its own date; the books of the closed month do not move.
- `guard_entries` is the last word, in `post_entries`: no entry reaches the ledger dated in a closed month.

Closing and reopening take the books' lock exclusively (a PostgreSQL advisory lock); every ledger write
holds it shared for its transaction (`share_books`), so a month cannot close between a writer's check and
its commit, and a closed month's figures, kept on its MonthClose row, reproduce exactly afterwards.
Reopening needs an owner and a reason; both are recorded in the audit trail.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

import audit
from loyalty_site.access import is_manager, is_owner

from ..calendar import add_months, month_name
from ..liability import month_figures
from ..local_time import current_month, local_date, local_midnight
from ..models import MonthClose, PointsEntry

# The advisory lock that ledger writers hold shared and closing holds exclusively ("loya" in ASCII).
BOOKS_LOCK = 0x6C6F7961


class CloseRefused(ValueError):
    """A close or reopening that cannot be made (not the next month, not over yet, not an owner...); `field`
    names the form field it belongs beside, if any."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ClosedBooks:
    """Which months are closed: every month up to and including `through` (None: none is)."""

    through: dt.date | None

    @property
    def first_open_month(self) -> dt.date | None:
        return add_months(self.through, 1) if self.through else None

    def is_closed(self, moment: dt.datetime) -> bool:
        return self.through is not None and local_date(moment).replace(day=1) <= self.through

    def month_closed(self, month: dt.date) -> bool:
        return self.through is not None and month <= self.through

    def open_moment(self, moment: dt.datetime) -> dt.datetime:
        """`moment`, or the beginning of the first open month when `moment` is in a closed one."""
        if not self.is_closed(moment):
            return moment
        return local_midnight(self.first_open_month)

    def refusal(self, moment: dt.datetime, *, field: str | None = "occurred_at", what: str = "") -> ValidationError:
        """The refusal of something dated at `moment`, in a closed month: the month first (an import says
        "line 12: May 2025 is closed ..."), then what to do instead."""
        month = local_date(moment).replace(day=1)
        message = (
            f"{month_name(month)} is closed: nothing can be dated in it"
            + (f" ({what})" if what else "")
            + f". The books are closed through {month_name(self.through)}; date it in "
            f"{month_name(self.first_open_month)} or later, or ask an owner to reopen the month."
        )
        error = ValidationError(message, code="month_closed", params={"month": f"{month:%Y-%m}"})
        return ValidationError({field: error}) if field else error


def closed_books() -> ClosedBooks:
    """The books as they are now (one query)."""
    through = MonthClose.objects.filter(reopened_at__isnull=True).aggregate(through=Max("month"))["through"]
    return ClosedBooks(through=through)


def share_books() -> ClosedBooks:
    """Hold the books open for the rest of the caller's database transaction and say which months are closed:
    on PostgreSQL a shared advisory lock, which closing a month waits for, and which waits for a close under
    way; then the closed months as committed. SQLite serialises writers anyway."""
    if connection.vendor == "postgresql" and connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [BOOKS_LOCK])
    return closed_books()


def hold_books() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [BOOKS_LOCK])


def check_open(moment: dt.datetime, *, field: str | None = "occurred_at", what: str = "") -> None:
    """Refuse (ValidationError beside `field`) anything dated at `moment` when its month is closed."""
    books = closed_books()
    if books.is_closed(moment):
        raise books.refusal(moment, field=field, what=what)


def guard_entries(entries: Iterable[PointsEntry]) -> None:
    """The last word before entries reach the ledger (post_entries): hold the books open and refuse any entry
    dated in a closed month. The services check earlier, beside their fields; this catches every other path."""
    books = share_books()
    if books.through is None:
        return
    for entry in entries:
        if books.is_closed(entry.effective_at):
            raise books.refusal(entry.effective_at, field=None, what=f"a {entry.get_kind_display().lower()} entry")


# ---------------------------------------------------------------------------------------------------
# Closing and reopening.


def closable_month(books: ClosedBooks | None = None) -> dt.date | None:
    """The month a manager may close next: the one after the latest closed month, if it is over; with no
    month closed yet, any past month may be the first (the books are then closed through it)."""
    books = books or closed_books()
    if books.through is None:
        return add_months(current_month(), -1)
    following = add_months(books.through, 1)
    return following if following < current_month() else None


def close_month(*, month: dt.date, closed_by, figures: dict | None = None) -> MonthClose:
    """Close `month` (its first day): its books are final, and nothing may be dated in it or before it.

    Refused unless it is over, and it is the month after the latest closed month (or the first close). The
    month's reports, as computed now under the books' exclusive lock, are kept on the row (`figures`; by
    default rewards.liability.month_figures) so that they can be proved to reproduce exactly later."""
    if not is_manager(closed_by):
        raise CloseRefused("Only a manager can close a month.")
    if month.day != 1:
        raise CloseRefused("A month is given by its first day.")
    with transaction.atomic():
        hold_books()
        books = closed_books()
        if month >= current_month():
            raise CloseRefused(f"{month_name(month)} is not over yet: only a past month can be closed.")
        if books.through is not None and month <= books.through:
            raise CloseRefused(f"{month_name(month)} is already closed.")
        if books.through is not None and month != add_months(books.through, 1):
            raise CloseRefused(
                f"Months close in order: close {month_name(add_months(books.through, 1))} before {month_name(month)}."
            )
        close = MonthClose.objects.create(
            month=month, closed_by=closed_by, closed_at=timezone.now(), figures=figures or month_figures(month)
        )
        audit.record(
            audit.Event.MONTH_CLOSED,
            actor=closed_by,
            target=close,
            detail={"month": f"{month:%Y-%m}", "closing_points": close.figures.get("closing", {}).get("points")},
        )
    return close


def reopen_month(*, month: dt.date, reopened_by, reason: str) -> MonthClose:
    """Reopen the latest closed month (an owner, with a reason): things may be dated in it again, and the
    months before it stay closed. Reopen months one at a time, latest first."""
    reason = (reason or "").strip()
    if not is_owner(reopened_by):
        raise CloseRefused("Only an owner can reopen a closed month.")
    if not reason:
        raise CloseRefused("Say why the month is reopened: a reason is required.", field="reason")
    with transaction.atomic():
        hold_books()
        books = closed_books()
        if books.through is None or month > books.through:
            raise CloseRefused(f"{month_name(month)} is not closed.")
        if month != books.through:
            raise CloseRefused(
                f"Reopen the latest closed month first ({month_name(books.through)}): months reopen latest first."
            )
        close = MonthClose.objects.select_for_update().get(month=month, reopened_at__isnull=True)
        close.reopened_by, close.reopened_at, close.reopen_reason = reopened_by, timezone.now(), reason[:300]
        close.save(update_fields=["reopened_by", "reopened_at", "reopen_reason"])
        audit.record(
            audit.Event.MONTH_REOPENED,
            actor=reopened_by,
            target=close,
            detail={
                "month": f"{month:%Y-%m}",
                "reason": close.reopen_reason,
                "closed_by": close.closed_by.get_username(),
            },
        )
    return close
