"""Template context every page needs: the signed-in user's role and the navigation they may use."""

from django.conf import settings

from .access import can_manage_staff, can_use_admin, is_manager, is_owner, is_store_staff
from .navigation import navigation_for


def roles(request):
    user = getattr(request, "user", None)
    signed_in = bool(user and user.is_authenticated)
    return {
        "is_owner": signed_in and is_owner(user),
        "is_manager": signed_in and is_manager(user),
        "is_store_staff": signed_in and is_store_staff(user),
        "can_manage_staff": signed_in and can_manage_staff(user),
        "can_use_admin": signed_in and can_use_admin(user),
        "currency": settings.LOYALTY_CURRENCY,
        "navigation": navigation_for(user, request.path) if user is not None else [],
    }
