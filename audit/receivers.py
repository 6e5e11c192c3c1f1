"""Sign-in events into the audit trail, from the signals Django's authentication and django-axes send.

Signals, not calls in views: sign-in happens through two views (the product's and the admin's), and
Django sends these for both (and for any future one) from `authenticate()`, `login()` and `logout()`.
"""

from axes.helpers import get_failure_limit
from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from .events import Event
from .services import record


@receiver(user_logged_in, dispatch_uid="audit_sign_in")
def sign_in(sender, request, user, **kwargs):
    record(Event.SIGN_IN, actor=user, request=request, target=user)


@receiver(user_logged_out, dispatch_uid="audit_sign_out")
def sign_out(sender, request, user, **kwargs):
    if user is not None:
        reason = getattr(request, "sign_out_reason", "")
        record(Event.SIGN_OUT, actor=user, request=request, target=user, detail={"reason": reason} if reason else None)


@receiver(user_login_failed, dispatch_uid="audit_sign_in_failed")
def sign_in_failed(sender, credentials, request=None, **kwargs):
    # The credentials arrive with the password already masked; only the username is kept.
    username = str(credentials.get("username") or "")
    detail = {"path": request.path} if request is not None else {}
    if request is not None and getattr(request, "axes_locked_out", False):
        detail["locked"] = True
    record(Event.SIGN_IN_FAILED, actor=None, request=request, username=username, detail=detail)


@receiver(user_locked_out, dispatch_uid="audit_lockout")
def locked_out(sender, request, username, ip_address, **kwargs):
    # django-axes signals every refused attempt once over the limit; the trail records the moment it locks.
    failures = getattr(request, "axes_failures_since_start", None)
    if failures is not None and failures != get_failure_limit(request, getattr(request, "axes_credentials", None)):
        return
    record(
        Event.LOCKOUT,
        actor=None,
        request=request,
        username=username or "",
        detail={"address": ip_address, "failures": failures},
    )
