"""How a member proves who they are: the card link, one-time sign-in links, and the member session.

- **The card link** (`/card/open/<key>/`): private, unguessable (256 random bits), revocable. Only its SHA-256
  hash is stored; staff revoke it or issue a new one from the customer's page (the old one stops working).
- **Sign-in links** mailed on request: valid for `LOYALTY_MEMBER_SIGN_IN_MINUTES`, used once.
- **The member session** is a signed cookie of its own (`loyalty_member`), never the staff session: a till
  signed in as staff and a member's phone never share a sign-in. It holds the customer's id and their
  membership's `session_version`, so revoking the card or erasing the member ends every session at once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import string

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import F
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone

from customers.models import Customer

from ..models import Membership, SignInLink

COOKIE = "loyalty_member"
COOKIE_SALT = "members.session"
# Referral codes: no 0/O or 1/I/L, so a code read aloud or off a screen is typed right.
REFERRAL_ALPHABET = "".join(c for c in string.ascii_uppercase + string.digits if c not in "0O1IL")
REFERRAL_LENGTH = 8


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def site_url(path: str) -> str:
    """An absolute address on this site (for emails and the printed join poster): LOYALTY_SITE_URL + path."""
    return settings.LOYALTY_SITE_URL.rstrip("/") + path


def membership_of(customer: Customer) -> Membership:
    """The customer's membership, created with a referral code on first need."""
    membership = Membership.objects.filter(customer=customer).first()
    if membership is not None:
        return membership
    for _attempt in range(5):
        try:
            with transaction.atomic():
                return Membership.objects.create(customer=customer, referral_code=_referral_code())
        except IntegrityError:
            existing = Membership.objects.filter(customer=customer).first()
            if existing is not None:  # created at the same moment by another request
                return existing
    raise RuntimeError("could not generate a free referral code")


def _referral_code() -> str:
    return "".join(secrets.choice(REFERRAL_ALPHABET) for _ in range(REFERRAL_LENGTH))


# --- the card link -------------------------------------------------------------------------------------


def issue_card_key(customer: Customer) -> str:
    """A new card link key for the customer (returned once, stored hashed). A link in force before it stops
    working, and every phone signed in as the member is signed out (the first link signs nobody out: the
    welcome mail carries it to a member who is signed in already)."""
    membership = membership_of(customer)
    key = new_token()
    Membership.objects.filter(pk=membership.pk).update(
        card_key_hash=token_hash(key),
        card_key_issued_at=timezone.now(),
        session_version=F("session_version") + (1 if membership.card_key_hash else 0),
    )
    return key


def revoke_card_key(customer: Customer) -> None:
    """The card link stops working and every phone signed in as the member is signed out."""
    membership = membership_of(customer)
    Membership.objects.filter(pk=membership.pk).update(
        card_key_hash="", card_key_issued_at=None, session_version=F("session_version") + 1
    )


def card_link(key: str) -> str:
    return site_url(reverse("members:card_link", args=[key]))


def member_by_card_key(key: str) -> Membership | None:
    if not key:
        return None
    return (
        Membership.objects.select_related("customer")
        .filter(card_key_hash=token_hash(key), erased_at__isnull=True)
        .first()
    )


# --- one-time sign-in links ----------------------------------------------------------------------------


def issue_sign_in_link(customer: Customer) -> str:
    """A one-time sign-in link for the customer, valid for LOYALTY_MEMBER_SIGN_IN_MINUTES; returns its address."""
    token = new_token()
    now = timezone.now()
    SignInLink.objects.create(
        customer=customer,
        token_hash=token_hash(token),
        created_at=now,
        expires_at=now + dt.timedelta(minutes=settings.LOYALTY_MEMBER_SIGN_IN_MINUTES),
    )
    return site_url(reverse("members:sign_in_link", args=[token]))


def usable_sign_in_link(token: str) -> SignInLink | None:
    """The link if it is known, unused and unexpired (for the page that asks to confirm signing in)."""
    return (
        SignInLink.objects.filter(token_hash=token_hash(token), used_at__isnull=True, expires_at__gt=timezone.now())
        .select_related("customer")
        .first()
    )


def use_sign_in_link(token: str) -> Customer | None:
    """Spend a sign-in link: the customer it signs in, or None when it is unknown, used or expired. A
    conditional UPDATE spends it, so two clicks at once sign in once."""
    now = timezone.now()
    link = SignInLink.objects.filter(token_hash=token_hash(token)).select_related("customer").first()
    if link is None:
        return None
    spent = SignInLink.objects.filter(pk=link.pk, used_at__isnull=True, expires_at__gt=now).update(used_at=now)
    if not spent:
        return None
    membership = membership_of(link.customer)
    if membership.erased_at is not None:
        return None
    if membership.email_confirmed_at is None:
        # The link reached the member's mailbox: the address is theirs.
        Membership.objects.filter(pk=membership.pk).update(email_confirmed_at=now)
    return link.customer


def forget_spent_links(*, older_than: dt.timedelta = dt.timedelta(days=1)) -> int:
    return SignInLink.objects.filter(expires_at__lt=timezone.now() - older_than).delete()[0]


# --- the member session ---------------------------------------------------------------------------------


def sign_member_in(response: HttpResponse, customer: Customer) -> HttpResponse:
    membership = membership_of(customer)
    response.set_signed_cookie(
        COOKIE,
        f"{customer.pk}:{membership.session_version}",
        salt=COOKIE_SALT,
        max_age=settings.LOYALTY_MEMBER_SESSION_DAYS * 24 * 3600,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
    return response


def sign_member_out(response: HttpResponse) -> HttpResponse:
    response.delete_cookie(COOKIE, samesite="Lax")
    return response


def signed_in_member(request: HttpRequest) -> Customer | None:
    """The member this request's cookie signs in (one query), or None: no cookie, a forged or stale one, a
    revoked card or an erased member."""
    if hasattr(request, "_member"):
        return request._member
    member = None
    try:
        value = request.get_signed_cookie(
            COOKIE, salt=COOKIE_SALT, max_age=settings.LOYALTY_MEMBER_SESSION_DAYS * 24 * 3600
        )
        customer_id, version = (int(part) for part in value.split(":"))
    except (KeyError, signing.BadSignature, ValueError):
        customer_id = version = None
    if customer_id is not None:
        membership = (
            Membership.objects.select_related("customer__home_store")
            .filter(pk=customer_id, session_version=version, erased_at__isnull=True)
            .first()
        )
        member = membership.customer if membership is not None else None
        if member is not None:
            member.membership = membership
    request._member = member
    return member
