"""Who may open which page. Roles are the groups made by a migration; checks go through permissions.

Store staff hold `transactions.use_till`; managers hold every permission of the loyalty apps,
including `rewards.view_reports` and `rewards.manage_program`.
"""

from collections.abc import Callable
from functools import wraps

from django.core.exceptions import PermissionDenied

MANAGERS_ONLY = "This page is for managers. Ask a manager if you need these figures."
STAFF_ONLY = "This page is for store staff and managers."


def is_manager(user) -> bool:
    return user.is_authenticated and user.has_perm("rewards.view_reports")


def is_store_staff(user) -> bool:
    return user.is_authenticated and user.has_perm("transactions.use_till")


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


def can_manage_program(user) -> bool:
    return user.is_authenticated and user.has_perm("rewards.manage_program")
