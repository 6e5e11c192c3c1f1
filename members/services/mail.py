"""The emails members receive: one class per kind (MailKind), what each needs to be sent, and sending once.

A member email goes out only when every switch says yes: the merchant has not switched its kind off
(/program/members/), the member's address is confirmed, they are not erased, and their latest choice for the
kind is "yes" (consent given on the join form or the card's email settings, never taken back by an
unsubscribe link). The welcome needs no consent: it is the card they asked for by joining.

Each email names its occasion with a key, and a `SentMail` row per (member, kind, key) is written in the same
database transaction as the sending: a repeated event, a retried task or the daily job never sends twice.
Every email carries a signed one-click unsubscribe link for its kind, in the text and in the
`List-Unsubscribe` header with `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058), so a mail
client's own "Unsubscribe" button works too.

Service emails (the join confirmation, sign-in links, "you are already a member", a card link sent by
staff) answer what someone just asked for: they are not switchable and carry no unsubscribe link.
"""

from __future__ import annotations

from abc import ABC
from typing import Any, ClassVar

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse

from customers.models import Customer
from rewards.selectors import default_program

from ..models import MailChoice, MailKind, Membership, SentMail
from .access import card_link, issue_card_key, site_url
from .settings import member_settings

UNSUBSCRIBE_SALT = "members.unsubscribe"
ALL = "all"


class MemberMail(ABC):
    """A kind of member email: its consent, the words of its checkbox, its subject and templates."""

    kind: ClassVar[MailKind]
    # Whether the member must have said yes to it (every kind but the welcome).
    needs_consent: ClassVar[bool] = True
    # What the member agrees to by ticking its box: recorded with the consent (MailChoice.wording).
    wording: ClassVar[str]

    @property
    def template(self) -> str:
        return f"members/mail/{self.kind.value}"

    def subject(self, program_name: str, context: dict[str, Any]) -> str:
        raise NotImplementedError

    def context(self, customer: Customer, occasion: dict[str, Any]) -> dict[str, Any]:
        """What its templates need beyond the common parts, from the occasion (an event's data...)."""
        return dict(occasion)

    def unsubscribes(self) -> str:
        """What its one-click unsubscribe link switches off: its own kind."""
        return self.kind.value


MAILS: dict[str, MemberMail] = {}


def member_mail(cls: type[MemberMail]) -> type[MemberMail]:
    MAILS[cls.kind.value] = cls()
    return cls


@member_mail
class Welcome(MemberMail):
    kind = MailKind.WELCOME
    needs_consent = False
    wording = "A welcome email with my card link when I join."

    def subject(self, program_name, context):
        return f"Welcome to {program_name}: your card"

    def context(self, customer, occasion):
        # A fresh card link, issued in the sending's transaction: if the mail fails, no link was given out.
        return {**occasion, "card_link": card_link(issue_card_key(customer))}

    def unsubscribes(self) -> str:
        return ALL


@member_mail
class PointsEarned(MemberMail):
    kind = MailKind.POINTS_EARNED
    wording = "Email me the points I earn after each purchase."

    def subject(self, program_name, context):
        return f"{program_name}: you earned {context['points']} points"


@member_mail
class RewardAffordable(MemberMail):
    kind = MailKind.REWARD_AFFORDABLE
    wording = "Email me when I have enough points for a reward."

    def subject(self, program_name, context):
        rewards = context["rewards"]
        more = f" and {len(rewards) - 1} more" if len(rewards) > 1 else ""
        return f"{program_name}: you can now have {rewards[0].name}{more}"


@member_mail
class PointsExpiring(MemberMail):
    kind = MailKind.POINTS_EXPIRING
    wording = "Email me 30 days before any of my points expire."

    def subject(self, program_name, context):
        return f"{program_name}: {context['points']} points expire on {context['due']:%B} {context['due'].day}"


@member_mail
class TierReached(MemberMail):
    kind = MailKind.TIER_REACHED
    wording = "Email me when I reach a new tier."

    def subject(self, program_name, context):
        return f"{program_name}: welcome to {context['tier_name']}"


# The kinds the join form's first box gives consent to; the points after each purchase are asked apart.
NEWS_KINDS = (MailKind.REWARD_AFFORDABLE, MailKind.POINTS_EXPIRING, MailKind.TIER_REACHED)
NEWS_WORDING = (
    "Email me about my points: when I can afford a reward, 30 days before points expire, and when I reach a new "
    "tier. I can unsubscribe from each at any time."
)


# --- the member's choices ----------------------------------------------------------------------------


def mail_choices(customer_id: int) -> dict[str, bool]:
    """Each kind: whether the member receives it by their own choice (one query, mailchoice_latest_idx)."""
    latest: dict[str, bool] = {}
    for kind, subscribed in (
        MailChoice.objects.filter(customer_id=customer_id).order_by("-at", "-id").values_list("kind", "subscribed")
    ):
        latest.setdefault(kind, subscribed)
    return {kind: latest.get(kind, not mail.needs_consent) for kind, mail in MAILS.items()}


def choose(customer: Customer, kinds: dict[str, bool], *, source: str, wording: dict[str, str] | None = None) -> int:
    """Record the member's choices that changed (`kinds`: kind -> yes/no) with the words agreed to; returns how
    many changed. Consent is recorded with its wording (the kind's own unless `wording` gives the words shown)."""
    current = mail_choices(customer.pk)
    rows = [
        MailChoice(
            customer=customer,
            kind=kind,
            subscribed=subscribed,
            wording=((wording or {}).get(kind) or MAILS[kind].wording) if subscribed else "",
            source=source,
        )
        for kind, subscribed in kinds.items()
        if current.get(kind) != subscribed
    ]
    MailChoice.objects.bulk_create(rows)
    return len(rows)


def unsubscribe_token(customer_id: int, kind: str) -> str:
    return signing.dumps([customer_id, kind], salt=UNSUBSCRIBE_SALT, compress=False)


def read_unsubscribe_token(token: str) -> tuple[Customer, str] | None:
    """The member and kind (or ALL) a signed unsubscribe link names; None for a forged or stale one."""
    try:
        customer_id, kind = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if kind != ALL and kind not in MAILS:
        return None
    customer = Customer.objects.filter(pk=customer_id, membership__erased_at__isnull=True).first()
    return (customer, kind) if customer is not None else None


def unsubscribe(customer: Customer, kind: str, *, source: str) -> list[str]:
    """Switch off one kind (or ALL); returns the kinds switched off."""
    kinds = list(MAILS) if kind == ALL else [kind]
    choose(customer, dict.fromkeys(kinds, False), source=source)
    return kinds


# --- sending ----------------------------------------------------------------------------------------------


def may_receive(customer: Customer, kind: str) -> bool:
    """Whether `kind` may be mailed to the member now: merchant, address, erasure and the member's choice."""
    if not customer.email or kind in member_settings().mail_off:
        return False
    membership = Membership.objects.filter(pk=customer.pk).values("email_confirmed_at", "erased_at").first()
    if membership is None or membership["email_confirmed_at"] is None or membership["erased_at"] is not None:
        return False
    return mail_choices(customer.pk)[kind]


def _common_context(customer: Customer) -> dict[str, Any]:
    return {
        "program_name": default_program().name,
        "first_name": customer.name.split()[0] if customer.name.strip() else "",
        "card_url": site_url(reverse("members:card")),
        "settings_url": site_url(reverse("members:preferences")),
        "site_url": settings.LOYALTY_SITE_URL.rstrip("/"),
    }


def _message(to: str, subject: str, template: str, context: dict[str, Any], headers: dict | None = None):
    text = render_to_string(f"{template}.txt", context)
    html = render_to_string(f"{template}.html", context)
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, [to], headers=headers or {})
    message.attach_alternative(html, "text/html")
    return message


def send_member_mail(customer: Customer, kind: str, key: str, **occasion) -> bool:
    """Send the member the email of `kind` for the occasion `key`, once ever (SentMail), if every switch says
    yes. Returns whether it was sent now. Raises what the mail backend raises, with nothing recorded (the
    task retries)."""
    mail = MAILS[kind]
    if not may_receive(customer, kind):
        return False
    with transaction.atomic():
        try:
            with transaction.atomic():
                SentMail.objects.create(customer=customer, kind=kind, key=key[:100])
        except IntegrityError:
            return False
        context = {**_common_context(customer), **mail.context(customer, occasion)}
        unsubscribe_url = site_url(
            reverse("members:unsubscribe", args=[unsubscribe_token(customer.pk, mail.unsubscribes())])
        )
        context.update(
            unsubscribe_url=unsubscribe_url,
            unsubscribe_all_url=site_url(reverse("members:unsubscribe", args=[unsubscribe_token(customer.pk, ALL)])),
            unsubscribes_all=mail.unsubscribes() == ALL,
            kind_label=mail.kind.label,
        )
        headers = {"List-Unsubscribe": f"<{unsubscribe_url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
        _message(customer.email, mail.subject(context["program_name"], context), mail.template, context, headers).send()
    return True


def send_service_mail(to: str, template: str, subject: str, customer: Customer | None = None, **context) -> None:
    """A service email (join confirmation, sign-in link, already a member, card link): sent as asked."""
    common = (
        _common_context(customer)
        if customer is not None
        else {"program_name": default_program().name, "card_url": site_url(reverse("members:card"))}
    )
    full = {**common, **context}
    _message(to, subject.format(program_name=full["program_name"]), f"members/mail/{template}", full).send()
