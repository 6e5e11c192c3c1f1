"""Two-factor sign-in (django-otp, time-based codes): what a session still owes before it may go on.

A person with a confirmed authenticator enters a code after their password at every sign-in (both sign-in
pages: the product's and the admin's). With LOYALTY_REQUIRE_2FA on, an owner or manager without one is
sent to enrol before anything else. The step is decided once per sign-in and kept in the session (server
side), so that ordinary pages cost no query for it.
"""

from __future__ import annotations

from base64 import b32encode

import segno
from django.conf import settings
from django.utils.safestring import SafeString, mark_safe
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from loyalty_site.access import is_manager, is_owner

SESSION_KEY = "two_factor_step"
VERIFY = "verify"  # enrolled: enter a code
ENROL = "enrol"  # required and not enrolled: set an authenticator up
DONE = ""


def confirmed_device(user) -> TOTPDevice | None:
    return TOTPDevice.objects.devices_for_user(user, confirmed=True).first()


def step_for(user) -> str:
    if confirmed_device(user) is not None:
        return VERIFY
    if settings.LOYALTY_REQUIRE_2FA and (is_owner(user) or is_manager(user)):
        return ENROL
    return DONE


def pending_step(request) -> str:
    """VERIFY, ENROL or DONE for the signed-in user of this request (decided at sign-in; sessions from
    before two-factor existed are decided on their first request)."""
    step = request.session.get(SESSION_KEY)
    if step is None:
        step = request.session[SESSION_KEY] = step_for(request.user)
    return step


def start(request, user) -> None:
    """At sign-in: what this session owes."""
    request.session[SESSION_KEY] = step_for(user)


def passed(request, device: TOTPDevice) -> None:
    """The code was right: the session is verified (django-otp) and owes nothing more."""
    otp_login(request, device)
    request.session[SESSION_KEY] = DONE


def unconfirmed_device(user) -> TOTPDevice:
    """The authenticator being set up: one per person until confirmed by a first right code."""
    device = TOTPDevice.objects.devices_for_user(user, confirmed=False).first()
    return device or TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)


def qr_code_svg(device: TOTPDevice) -> SafeString:
    """The otpauth:// URL as an inline SVG QR code, drawn on the server (no script, no third party)."""
    return mark_safe(segno.make(device.config_url, error="m").svg_inline(scale=5, title="QR code to scan"))  # noqa: S308


def secret_for_typing(device: TOTPDevice) -> str:
    """The key in base32, in groups of four, for an authenticator that cannot scan."""
    key = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(key[i : i + 4] for i in range(0, len(key), 4))
