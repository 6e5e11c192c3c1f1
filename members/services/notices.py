"""When each member email is due and what it says: the occasions behind members.services.mail.

- welcome: a member who joined by themselves was enrolled (the `customer.enrolled` event);
- points earned: a purchase was recorded (`purchase.recorded`; opt-in), with the survey link when one is due;
- a reward now affordable: after a purchase or an adjustment, and daily for what no event tells (bonuses,
  a new reward in the catalog). Its occasion is the reward and the member's last redemption: a member hears
  once about a reward, and again only after they have spent points since;
- points expiring in 30 days: daily; its occasion is the day the points lapse;
- a tier reached: `tier.changed` upwards; its occasion is the event.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from django.conf import settings
from django.db.models import Max, Min, OuterRef, Q, Subquery, Sum
from django.utils import timezone

from customers.models import Customer
from events.models import Event
from rewards.models import CustomerMonthPoints, CustomerTier, Redemption, Reward, Tier
from rewards.selectors import (
    ExpiryTimeline,
    affordable_rewards,
    customer_balance,
    customer_tier_status,
    points_expiring_soon,
)

from ..models import MailChoice, MailKind, Membership
from .access import issue_sign_in_link
from .feedback import survey_due, survey_link
from .joining import known_members
from .mail import send_member_mail, send_service_mail
from .settings import member_settings


def _member(member_number: str) -> Customer | None:
    return Customer.objects.filter(member_number=member_number).first()


def mail_sign_in_links(email: str) -> int:
    """Mail one-time sign-in links to the members with this address (one email); nothing for an unknown one."""
    known = known_members(email)
    if not known:
        return 0
    links = [(customer, issue_sign_in_link(customer)) for customer in known]
    send_service_mail(
        known[0].email, "sign_in", "{program_name}: your sign-in link", customer=known[0], links=links,
        minutes=settings.LOYALTY_MEMBER_SIGN_IN_MINUTES,
    )  # fmt: skip
    return len(links)


def mail_welcome(member_number: str) -> bool:
    customer = _member(member_number)
    if customer is None:
        return False
    joined_online = Membership.objects.filter(pk=customer.pk, joined_online_at__isnull=False).exists()
    return joined_online and send_member_mail(customer, MailKind.WELCOME, "welcome")


def mail_after_purchase(event_id: int) -> dict[str, bool]:
    event = Event.objects.filter(pk=event_id).first()
    if event is None:
        return {}
    customer = _member(event.data["customer"]["member_number"])
    if customer is None:
        return {}
    data = event.data
    purchase_id = data["transaction"]["id"]
    due = survey_due(customer)
    balance = customer_balance(customer.pk)
    earned = send_member_mail(
        customer,
        MailKind.POINTS_EARNED,
        f"event:{event.public_id}",
        points=data["points"],
        amount=data["transaction"]["amount"],
        lines=data["lines"],
        bonuses=[bonus for bonus in data["bonuses"] if not bonus["to_referrer"]],
        balance=balance,
        survey_url=survey_link(customer.pk, purchase_id) if due is not None and due.pk == purchase_id else "",
    )
    return {"points_earned": earned, "reward_affordable": mail_affordable_rewards(customer, balance=balance)}


def mail_affordable_rewards_of(member_number: str) -> bool:
    customer = _member(member_number)
    return customer is not None and mail_affordable_rewards(customer)


def mail_affordable_rewards(customer: Customer, *, balance: int | None = None) -> bool:
    """Mail the rewards the member can now afford and has not heard about since their last redemption."""
    balance = customer_balance(customer.pk) if balance is None else balance
    held = CustomerTier.objects.filter(customer=customer).select_related("tier").first()
    rewards = list(affordable_rewards(customer.pk, balance=balance, tier_rank=held.tier.rank if held else None))
    if not rewards:
        return False
    spent_since = Redemption.objects.filter(customer=customer).aggregate(last=Max("id"))["last"] or 0
    ids = ",".join(str(reward.pk) for reward in rewards)
    if len(ids) > 60:
        ids = hashlib.sha256(ids.encode()).hexdigest()[:32]
    key = f"rewards:{ids}:after:{spent_since}"
    # One email for the rewards newly in reach; the key holds the whole set, so a reward joining it later (a
    # bigger balance, a new reward) makes a new occasion while the same set never mails twice.
    return send_member_mail(customer, MailKind.REWARD_AFFORDABLE, key, rewards=rewards, balance=balance)


def mail_tier_reached(event_id: int) -> bool:
    event = Event.objects.filter(pk=event_id).first()
    if event is None:
        return False
    customer = _member(event.data["customer"]["member_number"])
    if customer is None:
        return False
    tier = Tier.objects.filter(program__is_default=True, name=event.data["to"]).first()
    status = customer_tier_status(customer.pk)
    return send_member_mail(
        customer,
        MailKind.TIER_REACHED,
        f"event:{event.public_id}",
        tier_name=event.data["to"],
        multiplier=tier.multiplier if tier is not None else None,
        status=status,
    )


def _consenting(kind: str):
    """Members who may hear `kind`: confirmed address, not erased, whose latest choice for it is yes."""
    latest = MailChoice.objects.filter(customer=OuterRef("pk"), kind=kind).order_by("-at", "-id").values("subscribed")
    return (
        Customer.objects.exclude(email="")
        .filter(membership__email_confirmed_at__isnull=False, membership__erased_at__isnull=True)
        .annotate(subscribed=Subquery(latest[:1]))
        .filter(subscribed=True)
    )


def mail_points_expiring(*, today: dt.date | None = None) -> int:
    """Daily: mail members whose points lapse within 30 days, once per lapse date."""
    if MailKind.POINTS_EXPIRING in member_settings().mail_off or not ExpiryTimeline().ever_expires:
        return 0
    today = today or timezone.localdate()
    sent = 0
    for customer in _consenting(MailKind.POINTS_EXPIRING).iterator(chunk_size=500):
        soon = points_expiring_soon(customer.pk, days=30, today=today)
        if soon.points and soon.first_due is not None:
            sent += send_member_mail(
                customer,
                MailKind.POINTS_EXPIRING,
                f"due:{soon.first_due:%Y-%m-%d}",
                points=soon.points,
                due=soon.first_due,
                balance=customer_balance(customer.pk),
            )
    return sent


def mail_affordable_rewards_daily() -> int:
    """Daily: the affordable-reward email for consenting members whose balance reaches the cheapest reward."""
    if MailKind.REWARD_AFFORDABLE in member_settings().mail_off:
        return 0
    day = timezone.localdate()
    cheapest = (
        Reward.objects.filter(program__is_default=True)
        .filter(Q(active_from__isnull=True) | Q(active_from__lte=day))
        .filter(Q(active_until__isnull=True) | Q(active_until__gte=day))
        .aggregate(least=Min("points_cost"))["least"]
    )
    if cheapest is None:
        return 0
    balance = (
        CustomerMonthPoints.objects.filter(customer=OuterRef("pk"))
        .order_by()
        .values("customer")
        .annotate(total=Sum(CustomerMonthPoints.sum_of(CustomerMonthPoints.POINT_COLUMNS)))
        .values("total")
    )
    candidates = (
        _consenting(MailKind.REWARD_AFFORDABLE).annotate(balance=Subquery(balance)).filter(balance__gte=cheapest)
    )
    return sum(
        mail_affordable_rewards(customer, balance=customer.balance) for customer in candidates.iterator(chunk_size=500)
    )
