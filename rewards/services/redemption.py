"""The rewards catalog, and redeeming at the till: redeeming a reward, and undoing a redemption."""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, models, transaction
from django.utils import timezone

import audit
from events import payloads
from events.models import EventType
from events.services import publish
from loyalty_site.access import is_manager, is_store_staff

from ..models import CustomerTier, PointsEntry, Program, Redemption, Reward
from ..selectors import customer_balance, default_program
from .ledger import lock_customer, post_entries


class RedemptionRefused(ValueError):
    """A redemption that cannot be made: not enough points, out of stock, over the limit, not active."""


class UndoRefused(PermissionError):
    """An undo that this user may not make (a past day's redemption needs a manager), or one already undone."""


def reward_available_on(reward: Reward, day: dt.date) -> bool:
    return (reward.active_from is None or reward.active_from <= day) and (
        reward.active_until is None or day <= reward.active_until
    )


def save_reward(*, reward: Reward, program: Program | None = None) -> Reward:
    """Create or change a catalog reward (of the default program unless told). Past redemptions keep the
    points they spent: a Redemption records its own cost."""
    if reward.program_id is None:
        reward.program = program or default_program()
    reward.full_clean()
    reward.save()
    return reward


def _redeemed_with(idempotency_key, *, customer, reward) -> Redemption | None:
    """The redemption a form's key already made (a resubmitted or double-clicked form): the same answer for
    every submission of one form. A key used for another customer or reward is refused."""
    if idempotency_key is None:
        return None
    earlier = Redemption.objects.filter(idempotency_key=idempotency_key).first()
    if earlier is not None and (earlier.customer_id, earlier.reward_id) != (customer.pk, reward.pk):
        raise RedemptionRefused("This form was already used for another redemption: start again from the till.")
    return earlier


def redeem(
    *, customer, reward: Reward, store, redeemed_by, idempotency_key=None, moment: dt.datetime | None = None
) -> Redemption:
    """Redeem `reward` for `customer`: post a redemption entry of its cost and record the Redemption.

    The customer's row is locked first (SELECT ... FOR UPDATE on PostgreSQL; SQLite serialises writers),
    so two tills redeeming for the same customer at once are judged one after the other, each against
    the balance the other left: the balance never goes below zero. Stock is taken with a conditional
    UPDATE (stock > 0), so the last one cannot go twice. With an idempotency key, every submission of one
    form returns the first redemption: checked again once the customer's row is locked (a second
    connection with the same key waits there for the first), and by the key's unique constraint.
    """
    if earlier := _redeemed_with(idempotency_key, customer=customer, reward=reward):
        return earlier
    moment = moment or timezone.now()
    try:
        with transaction.atomic():
            lock_customer(customer.pk)
            if earlier := _redeemed_with(idempotency_key, customer=customer, reward=reward):
                return earlier
            return _redeem(customer=customer, reward=reward, store=store, redeemed_by=redeemed_by,
                           idempotency_key=idempotency_key, moment=moment)  # fmt: skip
    except IntegrityError:
        # Two submissions of one form racing each other: the loser finds the winner's redemption.
        if earlier := _redeemed_with(idempotency_key, customer=customer, reward=reward):
            return earlier
        raise


def _redeem(*, customer, reward: Reward, store, redeemed_by, idempotency_key, moment: dt.datetime) -> Redemption:
    # The reward as it is now (a manager may have changed its cost since the page was shown).
    reward = Reward.objects.select_related("min_tier").get(pk=reward.pk)
    if not reward_available_on(reward, timezone.localdate(moment)):
        raise RedemptionRefused(f"{reward.name} is not available today.")
    if reward.min_tier_id is not None:
        held = CustomerTier.objects.filter(customer_id=customer.pk).values_list("tier__rank", flat=True).first()
        if held is None or held < reward.min_tier.rank:
            raise RedemptionRefused(f"{reward.name} is for {reward.min_tier.name} members and above.")
    balance = customer_balance(customer.pk)
    if balance < reward.points_cost:
        raise RedemptionRefused(f"{customer.name} has {balance} points; {reward.name} needs {reward.points_cost}.")
    if reward.per_customer_limit is not None:
        taken = Redemption.objects.filter(customer_id=customer.pk, reward=reward, undone_at__isnull=True).count()
        if taken >= reward.per_customer_limit:
            raise RedemptionRefused(
                f"{customer.name} has already redeemed {reward.name} {taken} times (the limit is "
                f"{reward.per_customer_limit})."
            )
    in_stock = reward.stock is None or Reward.objects.filter(pk=reward.pk, stock__gt=0).update(
        stock=models.F("stock") - 1
    )
    if not in_stock:
        raise RedemptionRefused(f"{reward.name} is out of stock.")
    [entry] = post_entries(
        [
            PointsEntry(
                customer_id=customer.pk,
                kind=PointsEntry.Kind.REDEMPTION,
                points=-reward.points_cost,
                effective_at=moment,
                created_by=redeemed_by,
                reason=f"redeemed {reward.name}"[:200],
                note=f"{reward.name}: {reward.gives()}",
                facts={"reward": reward.pk, "store": store.pk},
            )
        ]
    )
    redemption = Redemption.objects.create(
        customer_id=customer.pk,
        reward=reward,
        points=reward.points_cost,
        store=store,
        redeemed_by=redeemed_by,
        redeemed_at=moment,
        entry=entry,
        idempotency_key=idempotency_key,
    )
    publish(
        EventType.REDEMPTION_RECORDED,
        payloads.redemption_recorded(redemption, member_number=customer.member_number, undone=False),
        moment=moment,
    )
    return redemption


def can_undo_redemption(redemption: Redemption, user, *, today: dt.date | None = None) -> bool:
    """Store staff may undo a redemption the same (local) day; later only a manager."""
    if redemption.undone:
        return False
    if is_manager(user):
        return True
    today = today or timezone.localdate()
    return is_store_staff(user) and timezone.localdate(redemption.redeemed_at) == today


def undo_redemption(*, redemption: Redemption, undone_by, moment: dt.datetime | None = None) -> Redemption:
    """Give the points of a redemption back: a redemption entry of +points that corrects the first, and the
    reward's stock back. The Redemption row records who undid it and when. Refused with UndoRefused when
    the user may not undo it (see can_undo_redemption) or it is already undone (also under a race: the
    conditional UPDATE claims it once)."""
    moment = moment or timezone.now()
    if not can_undo_redemption(redemption, undone_by, today=timezone.localdate(moment)):
        if redemption.undone:
            raise UndoRefused("This redemption was already undone.")
        raise UndoRefused("A redemption from an earlier day can be undone only by a manager.")
    with transaction.atomic():
        [entry] = post_entries(
            [
                PointsEntry(
                    customer_id=redemption.customer_id,
                    kind=PointsEntry.Kind.REDEMPTION,
                    points=redemption.points,
                    effective_at=moment,
                    created_by=undone_by,
                    corrects_id=redemption.entry_id,
                    reason=f"undo redemption #{redemption.pk}",
                    note=f"undo of {redemption.reward.name}, redeemed "
                    f"{timezone.localtime(redemption.redeemed_at):%Y-%m-%d %H:%M}",
                    facts={"redemption": redemption.pk},
                )
            ]
        )
        claimed = Redemption.objects.filter(pk=redemption.pk, undone_at__isnull=True).update(
            undone_at=moment, undone_by=undone_by, undo_entry=entry
        )
        if not claimed:
            raise UndoRefused("This redemption was already undone.")  # rolls the entry back
        Reward.objects.filter(pk=redemption.reward_id, stock__isnull=False).update(stock=models.F("stock") + 1)
        redemption.refresh_from_db()
        publish(
            EventType.REDEMPTION_RECORDED,
            payloads.redemption_recorded(redemption, member_number=redemption.customer.member_number, undone=True),
            moment=moment,
        )
        audit.record(
            audit.Event.REDEMPTION_UNDONE,
            actor=undone_by,
            target=redemption.customer,
            detail={
                "redemption": redemption.pk,
                "reward": redemption.reward.name,
                "points": redemption.points,
                "redeemed_at": redemption.redeemed_at,
            },
        )
    return redemption
