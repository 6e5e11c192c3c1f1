"""Erasing a member on request (a manager, from the customer's page).

The person's fields are wiped (name, email, phone, birthday; the member number becomes `erased-<id>`), their
card link, sessions, sign-in links, email choices and survey comments go, and the outbox's record of their
enrolment loses its personal fields. What the books need stays, anonymous: the customer row (its id), its
transactions and its whole ledger, so every sum, report and `check_points_rollup` still adds up. Recorded in
the audit trail (who, when, the reason given), naming the erased row only.

Not reachable here: the append-only ledger's written reasons (a referral bonus names the member number the
referred friend had; once the row is renumbered that number points at nobody) and audit events written
before the erasure.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import F
from django.utils import timezone

import audit
from customers.models import Customer
from events.models import Event, EventType
from rewards.services.ledger import lock_customer

from ..models import Feedback, JoinRequest, MailChoice, Membership, SignInLink
from .access import membership_of

ERASED_NAME = "Erased member"


class ErasureRefused(ValueError):
    pass


def erase_member(*, customer: Customer, erased_by, reason: str, request=None) -> Customer:
    reason = (reason or "").strip()
    if not reason:
        raise ErasureRefused("Say why (e.g. the member's request and its date).")
    now = timezone.now()
    with transaction.atomic():
        lock_customer(customer.pk)
        customer.refresh_from_db()
        membership = membership_of(customer)
        if membership.erased_at is not None:
            raise ErasureRefused("This member was erased already.")
        old_number, old_email = customer.member_number, customer.email
        Customer.objects.filter(pk=customer.pk).update(
            name=ERASED_NAME, email="", phone="", birthday=None, member_number=f"erased-{customer.pk}"
        )
        Membership.objects.filter(pk=membership.pk).update(
            card_key_hash="",
            card_key_issued_at=None,
            referral_code=None,
            session_version=F("session_version") + 1,
            erased_at=now,
            erased_by=erased_by,
        )
        MailChoice.objects.filter(customer=customer).delete()
        SignInLink.objects.filter(customer=customer).delete()
        if old_email:
            JoinRequest.objects.filter(email__iexact=old_email).delete()
        Feedback.objects.filter(customer=customer).exclude(comment="").update(comment="")
        for event in Event.objects.filter(type=EventType.CUSTOMER_ENROLLED, data__customer__member_number=old_number):
            data = event.data
            data["customer"].update(member_number=f"erased-{customer.pk}", name="", email="", phone="")
            Event.objects.filter(pk=event.pk).update(data=data)
        customer.refresh_from_db()
        audit.record(
            audit.Event.MEMBER_ERASED, actor=erased_by, request=request, target=customer, detail={"reason": reason}
        )
    return customer
