"""`Authorization: Bearer <key>`: the request acts as the key's account, with the key's role and store."""

from __future__ import annotations

from rest_framework import authentication, exceptions

from .keys import key_for

INVALID = "The API key is not valid: it was revoked, or mistyped. Send `Authorization: Bearer <key>`."


class BearerKeyAuthentication(authentication.BaseAuthentication):
    """request.user is the key's account (inactive: it cannot sign in, only stand for the key); request.auth
    is the ApiKey. No header: not authenticated (the view's permission answers 401). A wrong or revoked key:
    401 at once."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(INVALID)
        try:
            token = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(INVALID) from None
        api_key = key_for(token)
        if api_key is None:
            raise exceptions.AuthenticationFailed(INVALID)
        return api_key.user, api_key

    def authenticate_header(self, request) -> str:
        # What makes DRF answer 401 (not 403) to a request without a valid key.
        return 'Bearer realm="api"'
