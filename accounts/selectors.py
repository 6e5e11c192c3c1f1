"""Reads for the accounts pages: the accounts a person manages, and the sign-ins that are locked."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from axes.helpers import get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, Max, OuterRef, Prefetch, QuerySet, Sum
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from loyalty_site.access import is_owner

from .roles import Role

User = get_user_model()
HIGHER_ROLES = [Role.MANAGER.value, Role.OWNER.value]


def managed_accounts(user) -> QuerySet:
    """Everyone for an owner; for a manager, the accounts that hold store staff's rights and nothing more
    (the same test as accounts.services.is_store_staff_only, in SQL). Groups, till store and whether
    two-factor sign-in is on come with each account (three queries in all)."""
    # An API key's account stands for the key (api.keys): it is managed on the API keys page, not here.
    accounts = User.objects.exclude(pk=user.pk).filter(api_key__isnull=True)
    if not is_owner(user):
        accounts = (
            accounts.filter(is_superuser=False, groups__name=Role.STORE_STAFF.value)
            .exclude(groups__name__in=HIGHER_ROLES)
            .annotate(direct_permissions=Count("user_permissions"))
            .filter(direct_permissions=0)
        )
    return (
        accounts.select_related("till_settings__store")
        .prefetch_related(Prefetch("groups"))
        .annotate(two_factor=Exists(TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)))
        .order_by("-is_active", "username")
        .distinct()
    )


@dataclass(frozen=True)
class Lock:
    value: str  # the username, or the address
    failures: int
    last_attempt: dt.datetime


def locked_sign_ins() -> tuple[list[Lock], list[Lock]]:
    """Usernames and addresses locked now: as many failures as the limit within the cool-off, counted
    the way django-axes counts them (failures since start, per username and per address)."""
    since = timezone.now() - get_cool_off()
    recent = AccessAttempt.objects.filter(attempt_time__gte=since)

    def locks(field: str, *, blank=None) -> list[Lock]:
        known = recent.exclude(**{f"{field}__isnull": True})
        if blank is not None:
            known = known.exclude(**{field: blank})
        rows = (
            known.values(field)
            .annotate(failures=Sum("failures_since_start"), last=Max("attempt_time"))
            .filter(failures__gte=settings.AXES_FAILURE_LIMIT)
            .order_by("-last")
        )
        return [Lock(row[field], row["failures"], row["last"]) for row in rows]

    return locks("username", blank=""), locks("ip_address")
