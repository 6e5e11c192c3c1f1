"""Session rules for shared tills (idle sign-out) and for owners and managers (two-factor first)."""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.urls import reverse

from . import two_factor

LAST_SEEN = "last_seen"
# The session is written at most this often to move its clock: most requests write nothing.
SEEN_PRECISION = 60


def mark_seen(request) -> None:
    request.session[LAST_SEEN] = int(time.time())


class IdleTimeoutMiddleware:
    """Signs a session out after LOYALTY_SESSION_IDLE_MINUTES without a request (a till left signed in),
    with a message on the sign-in page that follows."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        idle_seconds = settings.LOYALTY_SESSION_IDLE_MINUTES * 60
        if idle_seconds and request.user.is_authenticated:
            now = int(time.time())
            last = request.session.get(LAST_SEEN)
            if last is not None and now - last > idle_seconds:
                request.sign_out_reason = "idle"
                logout(request)
                messages.info(
                    request,
                    f"You were signed out after {settings.LOYALTY_SESSION_IDLE_MINUTES} minutes without activity.",
                )
            elif last is None or now - last >= SEEN_PRECISION:
                request.session[LAST_SEEN] = now
        return self.get_response(request)


# Pages a session may open while it owes a two-factor step: the step's own page and signing out.
STEP_PAGES = {two_factor.VERIFY: "accounts:two_factor_verify", two_factor.ENROL: "accounts:two_factor_enrol"}


class TwoFactorMiddleware:
    """While the signed-in session owes a two-factor step, every page but that step's (and signing out,
    and the pages meant for the public) sends it there, then back to where it was going."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if not request.user.is_authenticated or not getattr(view_func, "login_required", True):
            return None
        step = two_factor.pending_step(request)
        if step == two_factor.DONE:
            return None
        url_name = request.resolver_match.view_name if request.resolver_match else ""
        if url_name in (STEP_PAGES[step], "logout", "admin:logout"):
            return None
        return redirect_to_login(request.get_full_path(), reverse(STEP_PAGES[step]))
