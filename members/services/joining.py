"""Joining by oneself at /join/: the form is kept as a JoinRequest until the emailed link confirms the address;
then the customer is enrolled (customers.services.enrol_customer: the enrolment bonus, the event), with the
referrer of the code they came with, the emails they consented to, and their card signed in.

A known address does not reveal that it is known: the page answers the same, the request does the same
work (store the form, queue one task), and the task mails the owner of the address instead — "you are
already a member", with a sign-in link — so only the mailbox's owner learns it.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone

from customers.models import Customer
from customers.services import enrol_customer

from ..models import JoinRequest, MailChoice, Membership
from . import mail
from .access import issue_sign_in_link, membership_of, new_token, site_url, token_hash


def referrer_of(code: str) -> Customer | None:
    code = (code or "").strip().upper()
    if not code:
        return None
    membership = (
        Membership.objects.filter(referral_code=code, erased_at__isnull=True).select_related("customer").first()
    )
    return membership.customer if membership is not None else None


def request_to_join(
    *,
    name: str,
    email: str,
    phone: str = "",
    birthday: dt.date | None = None,
    mail_kinds: list[str],
    consent_wording: dict[str, str],
    referral_code: str = "",
) -> JoinRequest:
    """Keep a visitor's join form until they confirm their address; the worker mails them (members.tasks)."""
    now = timezone.now()
    join = JoinRequest.objects.create(
        name=name.strip(),
        email=email.strip(),
        phone=phone.strip(),
        birthday=birthday,
        mail_kinds=list(mail_kinds),
        consent_wording=consent_wording,
        referred_by=referrer_of(referral_code),
        requested_at=now,
        expires_at=now + dt.timedelta(hours=settings.LOYALTY_JOIN_CONFIRM_HOURS),
    )
    # A module-level import would be circular: the tasks import this module.
    from ..tasks import mail_join_request

    transaction.on_commit(lambda: mail_join_request(join.pk))
    return join


def known_members(email: str) -> list[Customer]:
    """The members (not erased) with this address, case-insensitively (customer_email_lower_idx)."""
    return list(
        Customer.objects.annotate(email_lower=Lower("email"))
        .filter(email_lower=email.strip().lower())
        .exclude(membership__erased_at__isnull=False)
        .order_by("pk")[:5]
    )


def mail_join_request(join_id: int) -> str:
    """The worker's half of joining: mail the confirmation link, or, for an address already a member's, a
    sign-in link to its owner. Returns what was sent ("confirm", "known", or "" when there was nothing to do)."""
    with transaction.atomic():
        join = JoinRequest.objects.select_for_update().filter(pk=join_id, token_hash__isnull=True).first()
        if join is None:  # already mailed (a retried task) or confirmed
            return ""
        known = known_members(join.email)
        if known:
            links = [(customer, issue_sign_in_link(customer)) for customer in known]
            email = join.email
            join.delete()
            mail.send_service_mail(
                email, "already_member", "{program_name}: you are already a member", customer=known[0], links=links,
                minutes=settings.LOYALTY_MEMBER_SIGN_IN_MINUTES,
            )  # fmt: skip
            return "known"
        token = new_token()
        join.token_hash = token_hash(token)
        join.save(update_fields=["token_hash"])
        mail.send_service_mail(
            join.email,
            "confirm_join",
            "{program_name}: confirm your email to get your card",
            first_name=join.name.split()[0] if join.name.split() else "",
            confirm_url=site_url(reverse("members:join_confirm", args=[token])),
            hours=settings.LOYALTY_JOIN_CONFIRM_HOURS,
        )
        return "confirm"


def pending_join(token: str) -> JoinRequest | None:
    return JoinRequest.objects.filter(token_hash=token_hash(token), expires_at__gt=timezone.now()).first()


def confirm_join(token: str) -> Customer | None:
    """The emailed link was followed: enrol the member (or, when the address became a member's meanwhile, that
    member) with their email confirmed, their consent and their referrer. None for an unknown, used or expired
    link. The welcome email follows the enrolment event (members.subscribers)."""
    now = timezone.now()
    with transaction.atomic():
        join = JoinRequest.objects.select_for_update().filter(token_hash=token_hash(token), expires_at__gt=now).first()
        if join is None:
            return None
        known = known_members(join.email)
        if known:
            customer = known[0]
        else:
            customer = enrol_customer(
                name=join.name,
                email=join.email,
                # A phone another member holds is left off (staff find members by phone, and two members with
                # one phone would make every look-up a choice); the join page never says whose a number is.
                phone="" if join.phone and Customer.objects.filter(phone=join.phone).exists() else join.phone,
                birthday=join.birthday,
                referred_by=join.referred_by,
                date_joined=now,
            )
        membership = membership_of(customer)
        Membership.objects.filter(pk=membership.pk).update(
            email_confirmed_at=membership.email_confirmed_at or now,
            joined_online_at=membership.joined_online_at or (None if known else now),
        )
        mail.choose(
            customer,
            dict.fromkeys(join.mail_kinds, True),
            source=MailChoice.Source.JOIN_FORM,
            wording=join.consent_wording,
        )
        join.delete()
    return customer


def forget_expired_join_requests() -> int:
    return JoinRequest.objects.filter(expires_at__lt=timezone.now()).delete()[0]
