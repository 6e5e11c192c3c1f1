"""Who may open which page. Roles are the groups made by migrations; checks go through permissions.

Store staff hold `transactions.use_till`; managers hold every permission of the loyalty apps, including
`rewards.view_reports` and `rewards.manage_program`, and `accounts.manage_staff` (store staff accounts
only); owners hold every permission, and alone `accounts.manage_accounts` (every account, group and
permission, the controls that protect the books, unlocking sign-ins). A superuser counts as an owner.
"""

from collections.abc import Callable
from functools import wraps

from django.core.exceptions import PermissionDenied

MANAGERS_ONLY = "This page is for managers. Ask a manager if you need these figures."
STAFF_ONLY = "This page is for store staff and managers."
OWNERS_ONLY = "This page is for owners."
MANAGES_STAFF_ONLY = "This page is for managers and owners."


def is_owner(user) -> bool:
    return user.is_authenticated and user.has_perm("accounts.manage_accounts")


def is_manager(user) -> bool:
    return user.is_authenticated and user.has_perm("rewards.view_reports")


def is_store_staff(user) -> bool:
    return user.is_authenticated and user.has_perm("transactions.use_till")


def can_manage_staff(user) -> bool:
    return user.is_authenticated and user.has_perm("accounts.manage_staff")


def can_use_admin(user) -> bool:
    """The admin serves managers' and owners' data entry; store staff's tool is the till."""
    return user.is_active and user.is_staff and (is_manager(user) or is_owner(user))


def _requires(check: Callable, message: str):
    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not check(request.user):
                raise PermissionDenied(message)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


# Sign-in itself is enforced for every page by LoginRequiredMiddleware; these add the role.
managers_only = _requires(is_manager, MANAGERS_ONLY)
staff_only = _requires(is_store_staff, STAFF_ONLY)
owners_only = _requires(is_owner, OWNERS_ONLY)
staff_managers_only = _requires(can_manage_staff, MANAGES_STAFF_ONLY)


def can_manage_program(user) -> bool:
    return user.is_authenticated and user.has_perm("rewards.manage_program")
