"""What a key may do: store staff's keys the till's actions; managers' keys also the reports."""

from __future__ import annotations

from rest_framework import permissions

from .models import ApiKey

NO_KEY = "This API needs a key: send `Authorization: Bearer <key>` (owners and managers create keys at /api-keys/)."
MANAGERS_ONLY = "This resource is for managers' keys: this key has store staff's rights."


def api_key_of(request) -> ApiKey | None:
    return request.auth if isinstance(request.auth, ApiKey) else None


class HasApiKey(permissions.BasePermission):
    """Any valid key: the till's actions (find and enrol customers, purchases, refunds, rewards)."""

    message = NO_KEY

    def has_permission(self, request, view) -> bool:
        return api_key_of(request) is not None


class HasManagerKey(HasApiKey):
    """A manager's key: the reports too. A staff key is refused with 403 (a missing key with 401)."""

    def has_permission(self, request, view) -> bool:
        api_key = api_key_of(request)
        if api_key is None:
            return False
        if not api_key.is_manager:
            self.message = MANAGERS_ONLY
            return False
        return True
