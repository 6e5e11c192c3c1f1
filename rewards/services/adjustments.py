"""Manual adjustments: within the program's threshold they post at once; above it a second manager approves."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

import audit
from events import payloads
from events.models import EventType
from events.services import publish

from ..models import AdjustmentRequest, PointsEntry, Program
from ..selectors import customer_balance, default_program
from .books import closed_books
from .ledger import balance_to_take_from, post_entries


class AdjustmentRefused(ValueError):
    """An adjustment that cannot be requested or approved (no reason, own request, would go below zero...)."""


def _adjustment_entry(request: AdjustmentRequest, *, posted_by, moment: dt.datetime) -> PointsEntry:
    approved = request.decided_by is not None
    return PointsEntry(
        customer_id=request.customer_id,
        kind=PointsEntry.Kind.ADJUSTMENT,
        points=request.points,
        effective_at=moment,
        created_by=posted_by,
        reason=request.reason,
        note=f"requested by {request.requested_by.get_username()}"
        + (f", approved by {request.decided_by.get_username()}" if approved else ""),
        facts={
            "adjustment_request": request.pk,
            "requested_by": request.requested_by_id,
            "approved_by": request.decided_by_id,
        },
    )


def _check_open(moment: dt.datetime) -> None:
    """Nothing is dated in a closed month (rewards.services.books): refused, the message says which month."""
    books = closed_books()
    if books.is_closed(moment):
        raise AdjustmentRefused(books.refusal(moment, field=None, what="an adjustment").message)


def _check_not_below_zero(customer_id: int, points: int, program: Program) -> None:
    """A deduction may not take a balance below zero unless the program allows a negative balance."""
    if points >= 0:
        return
    balance = balance_to_take_from(customer_id, program)
    if balance is not None and balance + points < 0:
        raise AdjustmentRefused(f"Deducting {-points} points would take the balance of {balance} below zero.")


def deduction_warning(*, customer, points: int) -> str | None:
    """What a manager should know before deducting more than the customer's balance, when the deduction
    would be accepted anyway: the program allows a negative balance, or it waits for approval (where it is
    refused unless the balance covers it by then). None when nothing needs saying, or when the request
    itself would be refused (within the threshold, under a program that keeps balances at zero or above:
    the refusal says why)."""
    if points >= 0:
        return None
    balance = customer_balance(customer.pk)
    if balance + points >= 0:
        return None
    program = default_program()
    allows_negative = program.negative_balance_policy == Program.NegativeBalance.ALLOW
    needs_approval = abs(points) > program.adjustment_approval_threshold
    if allows_negative:
        return (
            f"Deducting {-points:,} points is more than {customer.name}'s balance of {balance:,}: "
            f"it would go to {balance + points:,} (the program allows a negative balance)."
        )
    if needs_approval:
        return (
            f"Deducting {-points:,} points is more than {customer.name}'s balance of {balance:,}: the approval "
            "will be refused unless the balance covers it by then."
        )
    return None


def request_adjustment(
    *, customer, points: int, reason: str, requested_by, moment: dt.datetime | None = None
) -> AdjustmentRequest:
    """Add (points > 0) or deduct (points < 0) points by hand, with a reason. Within the program's approval
    threshold the adjustment entry posts at once; above it the request waits for a second manager."""
    reason = (reason or "").strip()
    if not reason:
        raise AdjustmentRefused("Say why: an adjustment needs a reason.")
    if not points:
        raise AdjustmentRefused("An adjustment moves at least one point.")
    moment = moment or timezone.now()
    _check_open(moment)
    program = default_program()
    needs_approval = abs(points) > program.adjustment_approval_threshold
    with transaction.atomic():
        if not needs_approval:
            _check_not_below_zero(customer.pk, points, program)
        request = AdjustmentRequest.objects.create(
            customer_id=customer.pk, points=points, reason=reason[:200], requested_by=requested_by, requested_at=moment
        )
        if not needs_approval:
            [entry] = post_entries([_adjustment_entry(request, posted_by=requested_by, moment=moment)])
            request.status, request.entry = AdjustmentRequest.Status.POSTED, entry
            request.save(update_fields=["status", "entry"])
            publish(
                EventType.ADJUSTMENT_POSTED,
                payloads.adjustment_posted(request, entry, member_number=customer.member_number),
                moment=moment,
            )
        audit.record(
            audit.Event.ADJUSTMENT_REQUESTED,
            actor=requested_by,
            target=customer,
            detail={"request": request.pk, "points": points, "reason": request.reason, "status": request.status},
        )
    return request


def decide_adjustment(
    *, request: AdjustmentRequest, decided_by, approve: bool, moment: dt.datetime | None = None
) -> AdjustmentRequest:
    """A second manager approves (posting the adjustment entry, in their name) or rejects a pending request.
    The requester cannot decide their own; a request is decided once (a conditional UPDATE claims it)."""
    if request.requested_by_id == decided_by.pk:
        raise AdjustmentRefused("Another manager must approve an adjustment you asked for.")
    moment = moment or timezone.now()
    if approve:
        _check_open(moment)
    with transaction.atomic():
        changes = {"status": AdjustmentRequest.Status.REJECTED, "decided_by": decided_by, "decided_at": moment}
        if approve:
            _check_not_below_zero(request.customer_id, request.points, default_program())
            request.decided_by = decided_by
            [entry] = post_entries([_adjustment_entry(request, posted_by=decided_by, moment=moment)])
            changes.update(status=AdjustmentRequest.Status.POSTED, entry=entry)
        claimed = AdjustmentRequest.objects.filter(pk=request.pk, status=AdjustmentRequest.Status.PENDING).update(
            **changes
        )
        if not claimed:
            raise AdjustmentRefused("This request was already decided.")  # and the entry rolls back
        if approve:
            publish(
                EventType.ADJUSTMENT_POSTED,
                payloads.adjustment_posted(request, entry, member_number=request.customer.member_number),
                moment=moment,
            )
        audit.record(
            audit.Event.ADJUSTMENT_APPROVED if approve else audit.Event.ADJUSTMENT_REJECTED,
            actor=decided_by,
            target=request.customer,
            detail={
                "request": request.pk,
                "points": request.points,
                "reason": request.reason,
                "requested_by": request.requested_by.get_username(),
            },
        )
    request.refresh_from_db()
    return request


def withdraw_adjustment(
    *, request: AdjustmentRequest, withdrawn_by, moment: dt.datetime | None = None
) -> AdjustmentRequest:
    """The manager who asked for an adjustment withdraws it while it still waits for approval: nothing is
    posted, and no one can approve it any more (a conditional UPDATE claims it from the pending state)."""
    if request.requested_by_id != withdrawn_by.pk:
        raise AdjustmentRefused("Only the manager who asked for an adjustment can withdraw it.")
    moment = moment or timezone.now()
    with transaction.atomic():
        claimed = AdjustmentRequest.objects.filter(pk=request.pk, status=AdjustmentRequest.Status.PENDING).update(
            status=AdjustmentRequest.Status.WITHDRAWN, decided_at=moment
        )
        if not claimed:
            raise AdjustmentRefused("This request was already decided.")
        audit.record(
            audit.Event.ADJUSTMENT_WITHDRAWN,
            actor=withdrawn_by,
            target=request.customer,
            detail={"request": request.pk, "points": request.points, "reason": request.reason},
        )
    request.refresh_from_db()
    return request
