"""API keys: creating one (its secret shown once), revoking it, and finding the key a request carries.

A key reads `lk_<prefix>_<secret>`: the prefix (10 letters and digits) finds the row, the secret (32 random
bytes, URL-safe base64) proves it. Stored: the prefix and SHA-256 of the secret, compared in constant time.
Why not a slow password hash (PBKDF2, Argon2): those make guessing a *person's* password expensive, which
matters because people choose guessable ones. A 256-bit random secret cannot be guessed at any speed, so a
slow hash would add nothing against a stolen table and would cost every API call ~0.3 s of CPU (Django's
PBKDF2 at 1,000,000 iterations). GitHub's and Stripe's tokens are stored the same way.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

import audit
from audit.services import command_line_user
from transactions.models import Store

from .models import ApiKey

PREFIX_ALPHABET = "abcdefghijkmnopqrstuvwxyz23456789"  # no l, 1, 0: easy to read back from the keys page
PREFIX_LENGTH = 10
SCHEME = "lk"


@dataclass(frozen=True)
class NewKey:
    api_key: ApiKey
    secret: str  # the whole key, `lk_<prefix>_<secret>`: shown once, never stored


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def username_for(prefix: str) -> str:
    return f"api-key-{prefix}"


def create_api_key(
    *, name: str, role: str, store: Store | None = None, created_by=None, request=None, form_key=None
) -> NewKey:
    """A new key with its own account to record as (inactive, no password, no role: it cannot sign in)."""
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Name the key after what will use it, e.g. 'Web shop'."})
    if role not in ApiKey.Role.values:
        raise ValidationError({"role": f"A key's role is one of: {', '.join(ApiKey.Role.values)}."})
    if store is not None and not store.is_active:
        raise ValidationError({"store": f"{store.name} is closed: choose an open store."})
    for _attempt in range(5):
        prefix = "".join(secrets.choice(PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))
        secret = secrets.token_urlsafe(32)
        try:
            with transaction.atomic():
                user = get_user_model()(username=username_for(prefix), first_name=name[:150], is_active=False)
                user.set_unusable_password()
                user.save()
                api_key = ApiKey.objects.create(
                    name=name,
                    prefix=prefix,
                    secret_hash=_hash(secret),
                    role=role,
                    store=store,
                    user=user,
                    created_by=created_by,
                    form_key=form_key,
                )
                audit.record(
                    audit.Event.API_KEY_CREATED,
                    actor=created_by,
                    request=request,
                    username="" if created_by else command_line_user(),
                    target=api_key,
                    detail={"name": name, "prefix": prefix, "role": role, "store": store.code if store else None},
                )
        except IntegrityError:
            continue  # a prefix already taken: draw another
        return NewKey(api_key, f"{SCHEME}_{prefix}_{secret}")
    raise RuntimeError("could not draw a free API key prefix")


def revoke_api_key(*, api_key: ApiKey, revoked_by, request=None) -> bool:
    """Revoke a key: every later request with it is refused (401). False if it was already revoked."""
    revoked = ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_by=revoked_by
    )
    if revoked:
        api_key.refresh_from_db(fields=["revoked_at", "revoked_by"])
        audit.record(
            audit.Event.API_KEY_REVOKED,
            actor=revoked_by,
            request=request,
            target=api_key,
            detail={"name": api_key.name, "prefix": api_key.prefix},
        )
    return bool(revoked)


def key_for(token: str) -> ApiKey | None:
    """The active key `token` is, with its account and store (one query), or None."""
    scheme, _, rest = (token or "").partition("_")
    prefix, _, secret = rest.partition("_")
    if scheme != SCHEME or len(prefix) != PREFIX_LENGTH or not set(prefix) <= set(PREFIX_ALPHABET):
        return None
    if not secret or len(secret) > 100:
        return None
    api_key = ApiKey.objects.select_related("user", "store").filter(prefix=prefix, revoked_at__isnull=True).first()
    if api_key is None or not hmac.compare_digest(api_key.secret_hash, _hash(secret)):
        return None
    return api_key
