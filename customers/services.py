"""Writes with business meaning for customers: enrolment, and staff's corrections of contact details."""

import secrets
from datetime import date

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

import audit
from events import payloads
from events.models import EventType
from events.services import publish
from rewards.services.bonuses import award_enrolment_bonus

from .models import Customer
from .phones import display_phone, normalise_phone

MEMBER_NUMBER_DIGITS = 9  # plus one Luhn check digit: a mistyped digit is caught at the till


def luhn_check_digit(digits: str) -> str:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def check_phone_free(phone: str, *, customer: Customer | None = None, field: str = "phone") -> None:
    """A phone is how staff find a member: one that already belongs to another member is refused, since a
    look-up by it would then find two. (Refused rather than warned: the till's look-up has no way to tell
    the two apart, and a family sharing a number can give one member the phone and the other the email.)"""
    if not phone:
        return
    holder = Customer.objects.filter(phone=phone).exclude(pk=customer.pk if customer else None).first()
    if holder is not None:
        taken = f"{display_phone(phone)} already belongs to member {holder.member_number} ({holder.name})."
        raise ValidationError({field: ValidationError(taken, code="phone_taken")})


def generate_member_number() -> str:
    """A random ten-digit member number whose last digit is a Luhn check digit."""
    body = "".join(secrets.choice("0123456789") for _ in range(MEMBER_NUMBER_DIGITS))
    body = str(secrets.randbelow(9) + 1) + body[1:]  # no leading zero: spreadsheets keep it intact
    return body + luhn_check_digit(body)


def enrol_customer(
    *,
    name: str,
    member_number: str | None = None,
    email: str = "",
    phone: str = "",
    birthday: date | None = None,
    home_store=None,
    referred_by: Customer | None = None,
    date_joined=None,
    enrolled_by=None,
) -> Customer:
    """Enrol a new member. Validates every field (a phone must be a valid number, stored as E.164, and not
    another member's); generates a member number when none is given.
    Awards the program's enrolment bonus (a `bonus` ledger entry keyed "enrolment") when it gives one."""
    generated = not member_number
    phone = normalise_phone(phone)
    check_phone_free(phone)
    for _attempt in range(5):
        customer = Customer(
            member_number=(member_number or generate_member_number()).strip(),
            name=name.strip(),
            email=email.strip(),
            phone=phone,
            birthday=birthday,
            home_store=home_store,
            referred_by=referred_by,
            date_joined=date_joined or timezone.now(),
        )
        customer.full_clean()
        try:
            with transaction.atomic():
                customer.save()
                # The program's enrolment bonus (if it gives one) is part of joining: same transaction.
                award_enrolment_bonus(customer=customer, awarded_by=enrolled_by)
                publish(EventType.CUSTOMER_ENROLLED, payloads.customer_enrolled(customer))
            return customer
        except IntegrityError:
            if not generated:
                raise
    raise RuntimeError("could not generate a free member number")


CONTACT_FIELDS = ("name", "phone", "email")


def correct_contact(*, customer: Customer, changed_by, name: str, phone: str, email: str) -> dict:
    """Staff correct a member's name, phone or email (at the till, without the admin). The same checks as
    enrolment; the change is recorded in the audit trail (field: before -> after). Returns the changes
    (empty when nothing changed, and then nothing is written)."""
    wanted = {"name": name.strip(), "phone": normalise_phone(phone), "email": email.strip()}
    changes = {field: (getattr(customer, field), value) for field, value in wanted.items()}
    changes = {field: pair for field, pair in changes.items() if pair[0] != pair[1]}
    if not changes:
        return {}
    if "phone" in changes:
        check_phone_free(wanted["phone"], customer=customer)
    for field, (_before, after) in changes.items():
        setattr(customer, field, after)
    customer.full_clean(validate_unique=False, validate_constraints=False)
    with transaction.atomic():
        customer.save(update_fields=list(changes))
        audit.record(audit.Event.CONTACT_CORRECTED, actor=changed_by, target=customer, changes=changes)
    return changes
