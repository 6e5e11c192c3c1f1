"""Recalculation: the one way to re-rate a past period. It posts adjustments; it never edits an entry."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from ..calendar import add_months
from ..local_time import local_midnight
from ..models import PointsEntry, Program, Recalculation, RuleVersion
from ..simulation import compare
from .books import closed_books
from .ledger import post_entries


class NothingToRecalculate(ValueError):
    """The period already holds exactly the points of the chosen version: no adjustment to post."""


class RecalculationRefused(NothingToRecalculate):
    """A period a recalculation cannot re-rate faithfully (purchases earned with tier multipliers): nothing
    is posted. (A kind of NothingToRecalculate, so the page shows its message the same way.)"""


def recalculate(*, program: Program, version: RuleVersion, first_month: dt.date, months: int, author) -> Recalculation:
    """Re-rate the period's transactions under `version` and post, per customer and month, an adjustment
    of the difference (created_by `author`, reason "recalculation #N ..."), recorded as a Recalculation.

    The differences are computed afresh here, inside a lock on the program, from what the ledger holds
    now (earlier recalculations of those months included), so running the same recalculation twice posts
    nothing the second time.
    """
    if version.program_id != program.pk:
        raise ValueError("the version belongs to another program")
    if first_month.day != 1:
        raise ValueError("a period starts on the first day of a month")
    books = closed_books()
    if books.month_closed(first_month):
        raise RecalculationRefused(
            f"{first_month:%B %Y} is closed: a recalculation posts its adjustments in the months it re-rates, and "
            f"nothing can be dated in a closed month. Choose months from {books.first_open_month:%B %Y} on."
        )
    # The replay knows the rule, not the tiers: it would take back what tier multipliers added.
    start, end = local_midnight(first_month), local_midnight(add_months(first_month, months))
    if PointsEntry.objects.filter(
        kind=PointsEntry.Kind.EARN, effective_at__gte=start, effective_at__lt=end, facts__has_key="tier_multiplier"
    ).exists():
        raise RecalculationRefused(
            "Purchases of this period earned with a tier multiplier, which a recalculation cannot replay yet: "
            "nothing was posted."
        )
    with transaction.atomic():
        list(Program.objects.select_for_update().filter(pk=program.pk).values_list("pk", flat=True))
        changed = compare(rule=version.engine_rule(), first_month=first_month, months=months, program=program).changed()
        if not changed:
            raise NothingToRecalculate("Nothing to adjust: the period already earns exactly that.")
        recalculation = Recalculation.objects.create(
            program=program,
            rule_version=version,
            first_month=first_month,
            months=months,
            author=author,
            customers=len({row.customer_id for row in changed}),
            points=sum(row.difference for row in changed),
        )
        last = add_months(first_month, months - 1)
        reason = (
            f"recalculation #{recalculation.pk}: {first_month:%Y-%m} to {last:%Y-%m} under the version from "
            f"{timezone.localtime(version.effective_from):%Y-%m-%d %H:%M}"
        )
        post_entries(
            [
                PointsEntry(
                    customer_id=row.customer_id,
                    kind=PointsEntry.Kind.ADJUSTMENT,
                    points=row.difference,
                    # In the month it corrects, so that month's figures (and a second preview) include it.
                    effective_at=local_midnight(row.month),
                    rule_version=version,
                    created_by=author,
                    reason=reason[:200],
                    note=f"{row.month:%Y-%m}: {row.actual} recorded, {row.draft} under that version",
                    facts={"month": row.month.isoformat(), "recorded": row.actual, "recalculated": row.draft},
                    recalculation=recalculation,
                )
                for row in changed
            ]
        )
    return recalculation
