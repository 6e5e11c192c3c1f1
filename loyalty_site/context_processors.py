"""Template context every page needs: the signed-in user's role, for the navigation."""

from django.conf import settings

from .access import is_manager, is_store_staff


def roles(request):
    user = getattr(request, "user", None)
    return {
        "is_manager": bool(user and is_manager(user)),
        "is_store_staff": bool(user and is_store_staff(user)),
        "currency": settings.LOYALTY_CURRENCY,
    }
