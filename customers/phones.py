"""Phone numbers as staff and members type them, stored one way (E.164, "+12125550123") so that any typed
form of a number finds its member: "(212) 555-0123", "212.555.0123", "+1 212 555 0123".

Parsing and validation are Google's libphonenumber rules (the `phonenumbers` package); a number typed
without a country code is read in the merchant's region, LOYALTY_PHONE_REGION ("US" by default).
"""

from __future__ import annotations

import re

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError

INVALID = "Type a phone number like {example}: this one is not a valid number."
# Look-ups by a partial number need at least this many digits, so "12" does not match everyone.
FEWEST_DIGITS = 4


def region() -> str:
    return settings.LOYALTY_PHONE_REGION


def _example() -> str:
    example = phonenumbers.example_number_for_type(region(), phonenumbers.PhoneNumberType.MOBILE)
    if example is None:
        return "+1 212 555 0123"
    return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)


def _parse(text: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(text, region())
    except phonenumbers.NumberParseException:
        return None


def normalise_phone(text: str, *, field: str = "phone") -> str:
    """The E.164 form of a phone number as typed ('' for a blank one). A string that is not a valid number
    in the merchant's region (or with its own country code) is refused with a ValidationError on `field`."""
    text = (text or "").strip()
    if not text:
        return ""
    number = _parse(text)
    if number is None or not phonenumbers.is_valid_number(number):
        raise ValidationError({field: ValidationError(INVALID.format(example=_example()), code="invalid_phone")})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def stored_forms(text: str) -> list[str]:
    """What a member's stored phone may look like when staff typed `text`: its E.164 form when it can be a
    number at all (validity aside, so a number stored before validation still matches), and its bare digits
    (phones stored before they were normalised, and not normalisable, keep their digits)."""
    digits = re.sub(r"\D", "", text or "")
    if len(digits) < FEWEST_DIGITS:
        return []
    forms = [digits]
    number = _parse(text)
    if number is not None and phonenumbers.is_possible_number(number):
        forms.insert(0, phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    return list(dict.fromkeys(forms))


def display_phone(stored: str) -> str:
    """A stored phone as people read it: national format for the merchant's own region ("(212) 555-0123"),
    international otherwise ("+44 20 7946 0018"); anything unparseable as it is."""
    if not stored:
        return ""
    number = _parse(stored)
    if number is None or not phonenumbers.is_possible_number(number):
        return stored
    home = phonenumbers.region_code_for_number(number) == region()
    style = phonenumbers.PhoneNumberFormat.NATIONAL if home else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    return phonenumbers.format_number(number, style)


def phone_ending(stored: str) -> str:
    """The last four digits, for telling members apart without reading out their whole number."""
    digits = re.sub(r"\D", "", stored or "")
    return digits[-4:] if len(digits) >= FEWEST_DIGITS else ""
