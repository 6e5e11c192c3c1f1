"""Each key's rate: LOYALTY_API_RATE calls (e.g. "300/minute") per fixed window, counted in the database.

DRF's own throttles keep their counts in Django's cache, which is per process unless a shared cache is set
up: with five gunicorn workers a key would get five times its rate. Here one conditional UPDATE of the key's
row counts the call and stamps its last use, atomically, whichever process serves it; the window restarts
when the clock passes its end. A fixed window may let up to twice the rate through around a window's edge,
which is enough to stop a runaway client, the purpose here.
"""

from __future__ import annotations

import datetime as dt
import math

from django.conf import settings
from django.db.models import Case, F, Value, When
from django.utils import timezone
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from .models import ApiKey
from .permissions import api_key_of


def rate() -> tuple[int, int]:
    """(calls, seconds) from LOYALTY_API_RATE, read at each call so that a changed setting applies at once."""
    calls, seconds = SimpleRateThrottle.parse_rate(None, settings.LOYALTY_API_RATE)
    return calls, seconds


class ApiKeyRateThrottle(BaseThrottle):
    def allow_request(self, request, view) -> bool:
        api_key = api_key_of(request)
        if api_key is None:
            return True  # nothing to count against: the permission check has already answered 401
        calls, seconds = rate()
        now = timezone.now()
        start = dt.datetime.fromtimestamp(now.timestamp() // seconds * seconds, tz=dt.UTC)
        ApiKey.objects.filter(pk=api_key.pk).update(
            window_calls=Case(When(window_start=start, then=F("window_calls") + 1), default=Value(1)),
            window_start=start,
            last_used_at=now,
        )
        made = ApiKey.objects.filter(pk=api_key.pk).values_list("window_calls", flat=True).first() or 0
        self.retry_after = max(1, math.ceil((start + dt.timedelta(seconds=seconds) - now).total_seconds()))
        return made <= calls

    def wait(self) -> int:
        return self.retry_after
