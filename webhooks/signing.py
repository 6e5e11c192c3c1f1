"""Signing a delivery, as the receiver checks it (README, "Webhooks"):

    Loyalty-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" keyed with the endpoint's secret>

The endpoint's secret is never stored: it is derived from DJANGO_SECRET_KEY and a random salt kept on the
endpoint (Django's salted HMAC), so a copy of the database alone cannot forge deliveries, and the manager
sees the secret once, when the endpoint is registered or its secret replaced. Changing DJANGO_SECRET_KEY
changes every endpoint's secret: replace each secret afterwards (the endpoint page does it).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.utils.crypto import salted_hmac

SIGNATURE_HEADER = "Loyalty-Signature"
EVENT_ID_HEADER = "Loyalty-Event-Id"
EVENT_TYPE_HEADER = "Loyalty-Event-Type"
SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix that says what the string is, not a secret)
_KEY_SALT = "loyalty.webhooks.endpoint-secret"


def new_salt() -> str:
    return secrets.token_hex(16)


def endpoint_secret(salt: str) -> str:
    """The signing secret of the endpoint holding `salt`, as the manager copies it (prefix included)."""
    return SECRET_PREFIX + salted_hmac(_KEY_SALT, salt, algorithm="sha256").hexdigest()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"
