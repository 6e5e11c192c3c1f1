"""The admin site: managers' and owners' data entry. Store staff are not let in at all (their tool is the
till), whatever model permissions their group holds, so that no model admin added later can give them a
way around the till's rules."""

from functools import update_wrapper

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.core.exceptions import PermissionDenied

from .access import can_use_admin

ADMIN_NOT_FOR_YOUR_ROLE = "The admin is for managers and owners. Store staff record purchases and refunds at the till."


class LoyaltyAdminSite(admin.AdminSite):
    site_header = "Loyalty admin"
    site_title = "Loyalty admin"
    index_title = "Data entry"

    def has_permission(self, request) -> bool:
        return can_use_admin(request.user)

    def admin_view(self, view, cacheable=False):
        inner = super().admin_view(view, cacheable)

        def for_managers_and_owners(request, *args, **kwargs):
            # Signed in but not admitted: the product's 403 page, not the admin's sign-in form again.
            if request.user.is_authenticated and not self.has_permission(request):
                raise PermissionDenied(ADMIN_NOT_FOR_YOUR_ROLE)
            return inner(request, *args, **kwargs)

        return update_wrapper(for_managers_and_owners, inner)


class LoyaltyAdminConfig(AdminConfig):
    default_site = "loyalty_site.admin_site.LoyaltyAdminSite"
