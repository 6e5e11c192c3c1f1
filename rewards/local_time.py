"""The merchant's calendar: rewards.calendar in the merchant's TIME_ZONE, in Python and in SQL.

Reports decide "which month" in the database (`month_of`), never by slicing strings; services and
pages use the same zone in Python (`local_midnight`, `local_date`).
"""

from __future__ import annotations

import datetime as dt

from django.db.models import DateField
from django.db.models.functions import TruncDate, TruncMonth
from django.utils import timezone

from . import calendar


def merchant_zone() -> dt.tzinfo:
    return timezone.get_default_timezone()


def local_midnight(day: dt.date) -> dt.datetime:
    """The aware moment a local calendar day begins in the merchant's time zone."""
    return calendar.local_midnight(day, merchant_zone())


def local_date(moment: dt.datetime) -> dt.date:
    return calendar.local_date(moment, merchant_zone())


def current_month() -> dt.date:
    return calendar.month_start(timezone.localdate())


def month_of(expression: str) -> TruncMonth:
    """SQL that puts a moment in its calendar month in the merchant's time zone (as a date)."""
    return TruncMonth(expression, tzinfo=merchant_zone(), output_field=DateField())


def day_of(expression: str) -> TruncDate:
    """SQL that puts a moment on its calendar day in the merchant's time zone."""
    return TruncDate(expression, tzinfo=merchant_zone(), output_field=DateField())
