"""Writes with business meaning for customers: enrolment."""

import re
import secrets
from datetime import date

from django.db import IntegrityError, transaction
from django.utils import timezone

from rewards.services.bonuses import award_enrolment_bonus

from .models import Customer

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


def normalize_phone(phone: str) -> str:
    """Keep a leading '+' and the digits: '(555) 010-2030' -> '5550102030', so look-ups by digits match."""
    phone = phone.strip()
    digits = re.sub(r"\D", "", phone)
    return ("+" + digits) if phone.startswith("+") and digits else digits


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
    """Enrol a new member. Validates every field; generates a member number when none is given.
    Awards the program's enrolment bonus (a `bonus` ledger entry keyed "enrolment") when it gives one."""
    generated = not member_number
    for _attempt in range(5):
        customer = Customer(
            member_number=(member_number or generate_member_number()).strip(),
            name=name.strip(),
            email=email.strip(),
            phone=normalize_phone(phone),
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
            return customer
        except IntegrityError:
            if not generated:
                raise
    raise RuntimeError("could not generate a free member number")
