"""Money and points as the merchant reads them, on every page: built-in template filters (no `{% load %}`).

    {{ amount|money }}          $1,234.50     the currency of LOYALTY_CURRENCY in the language of LANGUAGE_CODE
    {{ points|points }}         1,234
    {{ points|signed_points }}  +1,234 / −20  (a true minus sign)
    {{ date|day }}              Nov 30, 2026
    {{ datetime|moment }}       Nov 30, 2026, 2:05 PM   (in the merchant's TIME_ZONE)
    {{ date|month_label }}      Nov 2026
    {{ share|percent }}         64%           (a share given as 0.64; empty for none)
    {{ customer.phone|phone }}  (212) 555-0123  (stored as +12125550123; other countries' numbers in international form)

One format for each on every page, in the language of LANGUAGE_CODE. Date inputs are `type="date"` (and
`type="month"`) everywhere, so the browser shows them one way too.

Babel formats from the Decimal itself (never through float). Anything that is not a number is shown as it
is, so a template never fails on an empty cell.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from functools import cache

from babel.dates import format_date, format_skeleton, format_time, get_datetime_format
from babel.numbers import format_currency, format_decimal, format_percent
from django import template
from django.conf import settings
from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.translation import to_locale

from customers.phones import display_phone

register = template.Library()


@cache
def _locale(language_code: str) -> str:
    return to_locale(language_code)


def _number(value) -> Decimal | None:
    if isinstance(value, bool) or value is None or value == "":
        return None
    try:
        return value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        return None


@register.filter
def money(value) -> str:
    number = _number(value)
    if number is None:
        return "" if value is None else str(value)
    return format_currency(number, settings.LOYALTY_CURRENCY, locale=_locale(settings.LANGUAGE_CODE))


@register.filter
def points(value) -> str:
    number = _number(value)
    if number is None:
        return "" if value is None else str(value)
    return format_decimal(number, format="#,##0", locale=_locale(settings.LANGUAGE_CODE))


@register.filter
def signed_points(value) -> str:
    number = _number(value)
    if number is None:
        return "" if value is None else str(value)
    shown = points(abs(number))
    return f"+{shown}" if number > 0 else f"\u2212{shown}" if number < 0 else shown


def _here() -> str:
    return _locale(settings.LANGUAGE_CODE)


@register.filter
def day(value) -> str:
    if isinstance(value, dt.datetime):
        value = timezone.localdate(value) if timezone.is_aware(value) else value.date()
    if not isinstance(value, dt.date):
        return "" if value is None else str(value)
    return format_date(value, format="medium", locale=_here())


@register.filter
def moment(value) -> str:
    if not isinstance(value, dt.datetime):
        return "" if value is None else str(value)
    local = timezone.localtime(value) if timezone.is_aware(value) else value
    # The locale's own way of joining a date and a time ("{1}, {0}" in English).
    pattern = get_datetime_format("medium", locale=_here())
    return pattern.format(format_time(local, "short", locale=_here()), format_date(local, "medium", locale=_here()))


def moment_breakable(value) -> str:
    """A moment as `moment` writes it, its date and its time each kept on one line: a narrow column (the
    statement's ledger on a tablet) breaks it between them, never inside either."""
    if not isinstance(value, dt.datetime):
        return "" if value is None else str(value)
    local = timezone.localtime(value) if timezone.is_aware(value) else value
    pattern = get_datetime_format("medium", locale=_here())
    unbroken = '<span class="nowrap">{}</span>'
    return format_html(
        escape(pattern),
        format_html(unbroken, format_time(local, "short", locale=_here())),
        format_html(unbroken, format_date(local, "medium", locale=_here())),
    )


@register.filter
def month_label(value) -> str:
    if not isinstance(value, dt.date):
        return "" if value is None else str(value)
    return format_skeleton("yMMM", value, locale=_here())


@register.filter
def phone(value) -> str:
    return display_phone(value or "")


@register.filter
def percent(value) -> str:
    number = _number(value)
    if number is None:
        return "" if value is None else str(value)
    return format_percent(number, format="#,##0%", locale=_here())
