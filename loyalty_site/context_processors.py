"""Template context every page needs: the signed-in user's role and the navigation they may use."""

from django.conf import settings

from .access import is_manager, is_store_staff
from .navigation import navigation_for


def roles(request):
    user = getattr(request, "user", None)
    return {
        "is_manager": bool(user and is_manager(user)),
        "is_store_staff": bool(user and is_store_staff(user)),
        "currency": settings.LOYALTY_CURRENCY,
        "navigation": navigation_for(user, request.path) if user is not None else [],
    }
