"""At sign-in, through either sign-in page: decide what the session still owes (two-factor) and start
the idle clock. A signal, because Django's login() is the one place both pages go through."""

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from . import two_factor
from .middleware import mark_seen


@receiver(user_logged_in, dispatch_uid="accounts_sign_in")
def sign_in(sender, request, user, **kwargs):
    if request is None or not hasattr(request, "session"):
        return
    two_factor.start(request, user)
    mark_seen(request)
