"""Accounts: creating them, (de)activating them, their till store, role and password.

Managers manage store staff only; owners manage everyone. Every function checks who is asking, so the
page, a future API and the shell get the same answer; the audit trail records each change (django-auditlog
on the user, its groups and till settings: audit.history).
"""

from __future__ import annotations

from axes.utils import reset as axes_reset
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.db import transaction

import audit
from loyalty_site.access import can_manage_staff, is_owner
from transactions.models import Store
from transactions.services import remember_till_store

from .roles import Role

User = get_user_model()


class AccountRefused(PermissionError):
    """The person asking may not do this to this account."""


def is_store_staff_only(account) -> bool:
    """An account that holds store staff's rights and nothing more: the only kind a manager manages."""
    return (
        not account.is_superuser
        and {group.name for group in account.groups.all()} == {Role.STORE_STAFF.value}
        and not account.user_permissions.exists()
    )


def can_manage_account(user, account) -> bool:
    if account.pk == user.pk:
        return False  # nobody changes their own role, activity or password here
    if hasattr(account, "api_key"):
        return False  # an API key's account: revoked on the API keys page, never given a password or a role
    if is_owner(user):
        return True
    return can_manage_staff(user) and is_store_staff_only(account)


def _check(user, account) -> None:
    if not can_manage_account(user, account):
        if account.pk == user.pk:
            raise AccountRefused("You cannot change your own account here: ask an owner.")
        raise AccountRefused("Managers manage store staff accounts only; an owner manages this account.")


def _check_role(user, role: Role) -> None:
    if role != Role.STORE_STAFF and not is_owner(user):
        raise AccountRefused("Only an owner gives manager or owner rights.")
    if not can_manage_staff(user):
        raise AccountRefused("Only managers and owners manage accounts.")


def _give_role(account, role: Role) -> None:
    account.groups.set([Group.objects.get(name=role.value)])


@transaction.atomic
def create_account(
    *,
    username: str,
    password: str,
    created_by,
    role: Role = Role.STORE_STAFF,
    first_name: str = "",
    last_name: str = "",
    email: str = "",
    till_store: Store | None = None,
):
    """A new account with one role. Managers create store staff only (whatever they ask for); store staff
    get no admin access (`is_staff` off: their tool is the till). Raises AccountRefused, or ValidationError
    for a password the validators refuse."""
    role = Role(role)
    _check_role(created_by, role)
    account = User(username=username, first_name=first_name, last_name=last_name, email=email)
    validate_password(password, account)
    account.set_password(password)
    account.is_staff = role != Role.STORE_STAFF
    account.save()
    _give_role(account, role)
    if till_store is not None:
        remember_till_store(user=account, store=till_store)
    return account


@transaction.atomic
def set_role(*, account, role: Role, changed_by) -> None:
    """Owners only: the account's one role (and admin access with it)."""
    role = Role(role)
    _check(changed_by, account)
    _check_role(changed_by, role)
    if account.is_superuser:
        raise AccountRefused("A superuser is an owner whatever their groups: change them in the admin.")
    _give_role(account, role)
    account.is_staff = role != Role.STORE_STAFF
    account.save(update_fields=["is_staff"])


def set_active(*, account, active: bool, changed_by) -> None:
    """Deactivate (the account signs out at its next request and cannot sign in) or reactivate."""
    _check(changed_by, account)
    account.is_active = active
    account.save(update_fields=["is_active"])


def set_till_store(*, account, store: Store, changed_by) -> None:
    _check(changed_by, account)
    remember_till_store(user=account, store=store)


def set_password(*, account, password: str, changed_by) -> None:
    """A new password chosen by a manager or owner; the account's sessions end (Django's session hash)."""
    _check(changed_by, account)
    validate_password(password, account)
    account.set_password(password)
    account.save(update_fields=["password"])


def unlock(*, changed_by, request=None, username: str | None = None, address: str | None = None) -> int:
    """Owners only: forget the failed sign-ins of a username or of an address, which ends its lockout."""
    if not is_owner(changed_by):
        raise AccountRefused("Only an owner unlocks sign-ins.")
    if not username and not address:
        raise ValueError("Say which username or address to unlock.")
    cleared = axes_reset(username=username) if username else axes_reset(ip=address)
    audit.record(
        audit.Event.UNLOCK,
        actor=changed_by,
        request=request,
        detail={"username": username, "address": address, "attempts_cleared": cleared},
    )
    return cleared
