"""Tiers: up at once when a purchase qualifies, down by the daily review under the program's setting."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from transactions.amounts import max_amount

from .. import engine
from ..calendar import add_months
from ..local_time import local_midnight
from ..models import CustomerMonthPoints, CustomerTier, Program, ProgramDraft, RuleVersion, Tier
from ..selectors import default_program, points_earned_in_window, program_tiers, qualifying_tier, window_start
from .ledger import lock_customer


def tier_multiplier_of(customer_id: int) -> Decimal:
    """The multiplier of the tier the customer holds now (1 without a tier)."""
    found = CustomerTier.objects.filter(customer_id=customer_id).values_list("tier__multiplier", flat=True).first()
    return found if found is not None else Decimal(1)


def highest_tier_multiplier(program: Program) -> Decimal:
    """The largest multiplier of the program's tiers (1 without tiers): what capacity checks assume."""
    return max(Tier.objects.filter(program=program).values_list("multiplier", flat=True), default=Decimal(1))


def move_up_if_qualified(*, customer_id: int, moment: dt.datetime) -> None:
    """After a purchase (in its database transaction): move the customer up to the highest tier their points
    earned within the window now reach, if that is above the one they hold. Never moves down."""
    tiers = program_tiers()
    if not tiers:
        return
    earned = points_earned_in_window(customer_id, day=timezone.localdate(moment))
    reached = qualifying_tier(tiers, earned)
    if reached is None:
        return
    # Two tills recording for one customer at once: the customer's row lock lets one create their tier row.
    lock_customer(customer_id)
    held = CustomerTier.objects.filter(customer_id=customer_id).select_related("tier").first()
    if held is None:
        CustomerTier.objects.create(customer_id=customer_id, tier=reached, since=moment)
    elif reached.rank > held.tier.rank:
        held.tier, held.since = reached, moment
        held.save(update_fields=["tier", "since"])


def review_tiers(*, day: dt.date | None = None, program: Program | None = None) -> dict[str, int]:
    """The daily review: every customer's tier against their points earned in the window, as of `day` (local,
    today by default). Moves up whoever qualifies for more (purchases recorded by an import, which does not
    move tiers itself) and, unless the program never downgrades, moves down whoever has held their tier for
    a whole window without earning it again. Idempotent: a second run finds nothing to change.

    Calendar year: the tier earned in a year holds through the next; on a review in year Y a customer
    qualifies by the more of what they earned in Y-1 and in Y so far, and a tier held since before Y began
    that they no longer qualify for goes down to the one they do (since January 1st of Y).
    Rolling 12 months: a tier held for 12 months or more goes down to the one the last 12 months qualify for.
    """
    program = program or default_program()
    day = day or timezone.localdate()
    tiers = program_tiers(program)
    moved = {"up": 0, "down": 0}
    if not tiers:
        return moved
    start = window_start(program, day)
    calendar_year = program.tier_window == Program.TierWindow.CALENDAR_YEAR
    qualifying = CustomerMonthPoints.sum_of(CustomerMonthPoints.QUALIFYING)
    sums = {"now": Sum(qualifying, filter=Q(month__gte=start), default=0)}
    if calendar_year:
        sums["before"] = Sum(qualifying, filter=Q(month__gte=add_months(start, -12), month__lt=start), default=0)
    first = add_months(start, -12) if calendar_year else start
    earned = {
        row["customer_id"]: max(row["now"], row.get("before", 0))
        for row in CustomerMonthPoints.objects.filter(month__gte=first, month__lte=day)
        .values("customer_id")
        .annotate(**sums)
        .order_by()
    }
    held = {row.customer_id: row for row in CustomerTier.objects.select_related("tier")}
    # A tier held since before this moment has been held for a whole window.
    full_window = local_midnight(start)
    downgrades = program.tier_downgrade == Program.TierDowngrade.END_OF_WINDOW
    moment = local_midnight(day)
    for customer_id in set(earned) | set(held):
        reached = qualifying_tier(tiers, earned.get(customer_id, 0))
        current = held.get(customer_id)
        with transaction.atomic():
            if current is None:
                if reached is not None:
                    CustomerTier.objects.create(customer_id=customer_id, tier=reached, since=moment)
                    moved["up"] += 1
            elif reached is not None and reached.rank > current.tier.rank:
                CustomerTier.objects.filter(pk=current.pk).update(tier=reached, since=moment)
                moved["up"] += 1
            elif downgrades and current.since < full_window and (reached is None or reached.rank < current.tier.rank):
                if reached is None:
                    CustomerTier.objects.filter(pk=current.pk).delete()
                else:
                    # Calendar year: held from January 1st, reviewed again when the year ends.
                    since = full_window if calendar_year else moment
                    CustomerTier.objects.filter(pk=current.pk).update(tier=reached, since=since)
                moved["down"] += 1
    return moved


def check_tier_capacity(tier: Tier) -> None:
    """Refuse, beside `multiplier`, a tier multiplier under which some purchase could earn more points than
    one ledger entry holds: the largest accepted amount under any of the program's rule versions (back-dated
    purchases and imports earn by old ones) or its draft, with every promotion applied."""
    rules = [version.engine_rule() for version in RuleVersion.objects.filter(program_id=tier.program_id)]
    rules += [draft.engine_rule() for draft in ProgramDraft.objects.filter(program_id=tier.program_id)]
    most = engine.highest_tier_multiplier(rules, max_amount=max_amount())
    if tier.multiplier > most:
        raise ValidationError(
            {
                "multiplier": (
                    f"At most {most}: with a larger multiplier the largest accepted purchase "
                    f"({max_amount():,.2f}) could earn more points than one ledger entry holds "
                    f"({engine.MOST_POINTS_PER_ENTRY:,})."
                )
            },
            code="too_many_points",
        )


def save_tier(*, tier: Tier) -> Tier:
    """Create or change a tier. Customers holding it keep it; the next purchase or review uses the new figures."""
    tier.full_clean()
    check_tier_capacity(tier)
    tier.save()
    return tier
