"""Throttling the public members' pages: joining, asking for a sign-in link, opening a link.

A fixed-window counter per (scope, key) in the database: `hit()` adds one attempt with a conditional UPDATE
(or inserts the window's row), then reads the count, all in one transaction, so concurrent requests on any
number of processes or machines never undercount.

Why not django-ratelimit: it keeps its counters in Django's cache and needs one that is shared by every
process and increments atomically (Redis, Memcached); this product runs on SQLite locally and PostgreSQL in
production with no cache service, and django-ratelimit's own documentation says the database cache
undercounts under races. Why not django-axes (the staff sign-in lockout): its counts are failed sign-ins of
staff usernames and addresses, and a lock on an address locks the tills behind it. A visitor joining on
the shop's Wi-Fi must never lock the staff out, so the members' pages count on their own.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from .models import ThrottleWindow


@dataclass(frozen=True)
class Limit:
    scope: str
    attempts: int
    period: dt.timedelta

    def describe(self) -> str:
        minutes = int(self.period.total_seconds() // 60)
        return f"{self.attempts} per {minutes} minutes"


def _digest(scope: str, key: str) -> str:
    secret = settings.SECRET_KEY.encode()
    return hmac.new(secret, f"{scope}\0{key.strip().lower()}".encode(), hashlib.sha256).hexdigest()


def window_of(moment: dt.datetime, period: dt.timedelta) -> dt.datetime:
    seconds = int(period.total_seconds())
    return dt.datetime.fromtimestamp(int(moment.timestamp()) // seconds * seconds, tz=dt.UTC)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int  # seconds until the window ends (0 when allowed)


def hit(limit: Limit, key: str) -> Verdict:
    """Count one attempt of `key` (an address, an email) against `limit`; refused beyond its attempts until
    the window ends. Attempts over the limit count too: hammering keeps the door shut for the window."""
    now = timezone.now()
    start = window_of(now, limit.period)
    digest = _digest(limit.scope, key)
    window = ThrottleWindow.objects.filter(scope=limit.scope, key=digest, window_start=start)
    with transaction.atomic():
        if not window.update(count=F("count") + 1):
            try:
                with transaction.atomic():
                    ThrottleWindow.objects.create(scope=limit.scope, key=digest, window_start=start, count=1)
            except IntegrityError:  # another request created it first: count on it
                window.update(count=F("count") + 1)
        count = window.values_list("count", flat=True).get()
    if count <= limit.attempts:
        return Verdict(True, 0)
    return Verdict(False, max(1, int((start + limit.period - now).total_seconds())))


def blocked(limit: Limit, key: str) -> Verdict:
    """Whether `key` is over `limit` now, without counting an attempt (one query)."""
    now = timezone.now()
    start = window_of(now, limit.period)
    count = (
        ThrottleWindow.objects.filter(scope=limit.scope, key=_digest(limit.scope, key), window_start=start)
        .values_list("count", flat=True)
        .first()
    )
    if count is None or count < limit.attempts:
        return Verdict(True, 0)
    return Verdict(False, max(1, int((start + limit.period - now).total_seconds())))


def forget_old_windows(*, older_than: dt.timedelta = dt.timedelta(days=1)) -> int:
    return ThrottleWindow.objects.filter(window_start__lt=timezone.now() - older_than).delete()[0]
