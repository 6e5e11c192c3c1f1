"""Which models django-auditlog keeps the history of, and the event each change of them is recorded as.

Accounts, groups and permissions change in the admin (owners), on the staff page (managers and owners)
and from the shell; auditlog sees every path through the models' signals, with the actor and address of
the request (audit.middleware) when there is one.
"""

from auditlog.models import AbstractLogEntry
from auditlog.registry import auditlog
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django_otp.plugins.otp_totp.models import TOTPDevice

from transactions.models import TillSettings

from .models import AuditEvent

Event = AuditEvent.Event
CREATE, UPDATE, DELETE = AbstractLogEntry.Action.CREATE, AbstractLogEntry.Action.UPDATE, AbstractLogEntry.Action.DELETE

# model label -> the event of a create, an update (m2m changes included) and a delete.
MODEL_EVENTS = {
    "auth.user": {CREATE: Event.ACCOUNT_CREATED, UPDATE: Event.ACCOUNT_CHANGED, DELETE: Event.ACCOUNT_DELETED},
    "auth.group": {CREATE: Event.GROUP_CREATED, UPDATE: Event.GROUP_CHANGED, DELETE: Event.GROUP_DELETED},
    "transactions.tillsettings": {
        CREATE: Event.TILL_STORE_SET,
        UPDATE: Event.TILL_STORE_CHANGED,
        DELETE: Event.TILL_STORE_REMOVED,
    },
    "otp_totp.totpdevice": {
        CREATE: Event.TWO_FACTOR_DEVICE_ADDED,
        UPDATE: Event.TWO_FACTOR_DEVICE_CHANGED,
        DELETE: Event.TWO_FACTOR_DEVICE_REMOVED,
    },
}


def event_for(instance, action: int) -> str:
    return MODEL_EVENTS[instance._meta.label_lower][action]


def hidden(value) -> str:
    """How a password (its hash) shows in the trail: that it changed, never what it is."""
    return "(hidden)"


def register_models() -> None:
    auditlog.register(
        get_user_model(),
        # Every sign-in updates last_login: the trail records sign-ins as events of their own.
        exclude_fields=["last_login"],
        mask_fields=["password"],
        mask_callable="audit.history.hidden",
        m2m_fields={"groups", "user_permissions"},
    )
    auditlog.register(Group, m2m_fields={"permissions"})
    auditlog.register(TillSettings, include_fields=["user", "store"])
    # Never the device's secret key: only that a device was added, confirmed or removed.
    auditlog.register(TOTPDevice, include_fields=["user", "name", "confirmed"])
