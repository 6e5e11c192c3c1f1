"""Feedback: "How likely are you to recommend us to a friend?" (0–10, a comment) after a purchase.

A member is asked about their latest purchase, at most once per `feedback_interval_days` (the merchant's
setting) and once per purchase (a unique constraint). Answering may earn the program's feedback bonus (a bonus
action, rewards.kinds.FeedbackBonus), awarded through the rewards service once per survey.
"""

from __future__ import annotations

import datetime as dt

from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from customers.models import Customer
from rewards.kinds import FeedbackBonus
from rewards.models import PointsEntry
from rewards.services.bonuses import BonusRefused, award_bonus
from rewards.services.ledger import lock_customer
from transactions.models import Transaction

from ..models import Feedback
from .access import site_url
from .settings import member_settings

LINK_SALT = "members.feedback"
# How long the survey link in a points email stays valid.
LINK_DAYS = 30


class FeedbackRefused(ValueError):
    """Not now: answered within the interval, no purchase to ask about, or that purchase already answered."""


def survey_due(customer: Customer, *, interval_days: int | None = None) -> Transaction | None:
    """The purchase to ask the member about now, or None (two queries): their latest purchase, if they have not
    answered about it nor answered anything within the merchant's interval."""
    if interval_days is None:
        interval_days = member_settings().feedback_interval_days
    latest = (
        Transaction.objects.filter(customer=customer, kind=Transaction.Kind.PURCHASE)
        .select_related("store")
        .order_by("-occurred_at", "-id")
        .first()
    )
    if latest is None:
        return None
    return latest if may_answer(customer, latest, interval_days=interval_days) else None


def may_answer(customer: Customer, purchase: Transaction, *, interval_days: int | None = None) -> bool:
    """Whether the member may answer about `purchase` now (one query): not answered about it, and nothing
    answered within the merchant's interval."""
    if interval_days is None:
        interval_days = member_settings().feedback_interval_days
    since = timezone.now() - dt.timedelta(days=interval_days)
    return not Feedback.objects.filter(Q(customer=customer, answered_at__gte=since) | Q(transaction=purchase)).exists()


def record_feedback(
    *, customer: Customer, purchase: Transaction, score: int, comment: str = ""
) -> tuple[Feedback, PointsEntry | None]:
    """Record an answer about `purchase` and award the program's feedback bonus, if it gives one (once per
    survey: the ledger's key feedback:<id>). Refused with FeedbackRefused when the survey is not due."""
    if not 0 <= score <= 10:
        raise FeedbackRefused("Choose a score from 0 to 10.")
    with transaction.atomic():
        # Two answers sent at once (a double tap) are serialised on the member's row: one is recorded.
        lock_customer(customer.pk)
        if purchase.customer_id != customer.pk or purchase.kind != Transaction.Kind.PURCHASE:
            raise FeedbackRefused("That purchase is not yours to answer about.")
        if not may_answer(customer, purchase):
            raise FeedbackRefused("Thank you: we already have your answer for now.")
        try:
            with transaction.atomic():
                feedback = Feedback.objects.create(
                    customer=customer, transaction=purchase, score=score, comment=comment.strip()
                )
        except IntegrityError:
            raise FeedbackRefused("Thank you: we already have your answer for this purchase.") from None
        try:
            bonus = award_bonus(customer=customer, action=FeedbackBonus.key, survey_id=feedback.pk)
        except (BonusRefused, LookupError):
            bonus = None
    return feedback, bonus


def survey_link(customer_id: int, purchase_id: int) -> str:
    """The survey link of a points email: signed, valid LINK_DAYS, naming the member and the purchase."""
    token = signing.dumps([customer_id, purchase_id], salt=LINK_SALT, compress=False)
    return site_url(reverse("members:feedback_link", args=[token]))


def read_survey_link(token: str) -> tuple[Customer, Transaction] | None:
    try:
        customer_id, purchase_id = signing.loads(token, salt=LINK_SALT, max_age=dt.timedelta(days=LINK_DAYS))
    except (signing.BadSignature, ValueError, TypeError):
        return None
    purchase = (
        Transaction.objects.filter(pk=purchase_id, customer_id=customer_id, kind=Transaction.Kind.PURCHASE)
        .select_related("customer", "store")
        .exclude(customer__membership__erased_at__isnull=False)
        .first()
    )
    return (purchase.customer, purchase) if purchase is not None else None
