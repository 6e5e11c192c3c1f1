"""Accounts pages: the staff page (managers: store staff; owners: everyone, and unlocking sign-ins),
two-factor enrolment and the code after the password, the lockout answer, and password reset by mail.

Thin: forms parse, accounts.services decides and writes.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

import audit
from loyalty_site.access import is_manager, is_owner, owners_only, staff_managers_only

from . import services, two_factor
from .forms import AccountForm, NewPasswordForm, RoleForm, TillStoreForm, TwoFactorCodeForm
from .roles import role_of
from .selectors import locked_sign_ins, managed_accounts

User = get_user_model()
NOT_YOURS = "You cannot change this account: managers manage store staff only, and nobody changes their own here."


def _lockout_minutes() -> int:
    return int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)


def locked_out(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """What django-axes answers a locked-out sign-in with, on either sign-in page: the product's sign-in
    page with the reason and how long the lock lasts (429 Too Many Requests)."""
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    form = AuthenticationForm(request, initial={"username": username})
    context = {
        "form": form,
        "next": request.POST.get("next") or request.GET.get("next", ""),
        "locked_minutes": _lockout_minutes(),
    }
    return render(request, "registration/login.html", context, status=429)


# ---------------------------------------------------------------------------------------------------
# The staff page.


@staff_managers_only
def staff(request: HttpRequest) -> HttpResponse:
    owner = is_owner(request.user)
    form = AccountForm(request.POST or None, owner=owner)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                account = services.create_account(
                    username=data["username"],
                    password=data["password1"],
                    role=form.chosen_role(),
                    first_name=data["first_name"],
                    last_name=data["last_name"],
                    email=data["email"],
                    till_store=data["till_store"],
                    created_by=request.user,
                )
            except ValidationError as error:
                form.add_error("password1", error)
            except services.AccountRefused as refusal:
                form.add_error(None, str(refusal))
            else:
                messages.success(request, f"Account {account.username} created ({form.chosen_role().label}).")
                return redirect("accounts:staff")
        status = 400
    usernames, addresses = locked_sign_ins() if owner else ([], [])
    context = {
        "form": form,
        "accounts": [(account, role_of(account)) for account in managed_accounts(request.user)],
        "owner": owner,
        "locked_usernames": usernames,
        "locked_addresses": addresses,
        "locked_minutes": _lockout_minutes(),
    }
    return render(request, "accounts/staff.html", context, status=status)


@staff_managers_only
def account(request: HttpRequest, pk: int) -> HttpResponse:
    person = get_object_or_404(User.objects.prefetch_related("groups"), pk=pk)
    if not services.can_manage_account(request.user, person):
        raise PermissionDenied(NOT_YOURS)
    forms = {
        "store": TillStoreForm(
            prefix="store", initial={"till_store": getattr(getattr(person, "till_settings", None), "store", None)}
        ),
        "password": NewPasswordForm(person, prefix="password"),
        "role": RoleForm(prefix="role", initial={"role": role_of(person)}) if is_owner(request.user) else None,
    }
    status = 200
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "store":
                forms["store"] = form = TillStoreForm(request.POST, prefix="store")
                if form.is_valid():
                    services.set_till_store(
                        account=person, store=form.cleaned_data["till_store"], changed_by=request.user
                    )
                    messages.success(request, f"{person.username}'s till records at {form.cleaned_data['till_store']}.")
                    return redirect("accounts:account", pk=person.pk)
            elif action == "password":
                forms["password"] = form = NewPasswordForm(person, request.POST, prefix="password")
                if form.is_valid():
                    services.set_password(
                        account=person, password=form.cleaned_data["new_password1"], changed_by=request.user
                    )
                    messages.success(request, f"New password set for {person.username}; their open sessions ended.")
                    return redirect("accounts:account", pk=person.pk)
            elif action in ("deactivate", "reactivate"):
                services.set_active(account=person, active=action == "reactivate", changed_by=request.user)
                messages.success(
                    request,
                    f"{person.username} {'can sign in again' if action == 'reactivate' else 'can no longer sign in'}.",
                )
                return redirect("accounts:account", pk=person.pk)
            elif action == "role" and forms["role"] is not None:
                forms["role"] = form = RoleForm(request.POST, prefix="role")
                if form.is_valid():
                    services.set_role(account=person, role=form.cleaned_data["role"], changed_by=request.user)
                    messages.success(request, f"{person.username} is now {role_of(person).label.lower()}.")
                    return redirect("accounts:account", pk=person.pk)
        except services.AccountRefused as refusal:
            messages.error(request, str(refusal))
            return redirect("accounts:account", pk=person.pk)
        status = 400
    context = {"person": person, "role": role_of(person), "forms": forms, "owner": is_owner(request.user)}
    return render(request, "accounts/account.html", context, status=status)


@owners_only
@require_POST
def unlock(request: HttpRequest) -> HttpResponse:
    username, address = request.POST.get("username", "").strip(), request.POST.get("address", "").strip()
    if username or address:
        services.unlock(changed_by=request.user, request=request, username=username or None, address=address or None)
        messages.success(request, f"Unlocked {'username ' + username if username else 'address ' + address}.")
    return redirect("accounts:staff")


# ---------------------------------------------------------------------------------------------------
# Two-factor sign-in.


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return reverse(settings.LOGIN_REDIRECT_URL)


def two_factor_enrol(request: HttpRequest) -> HttpResponse:
    """Set up an authenticator app: scan the QR code (or type the key), then confirm with a first code."""
    user = request.user
    if not (is_owner(user) or is_manager(user)):
        raise PermissionDenied("Two-factor sign-in is for owners and managers.")
    enrolled = two_factor.confirmed_device(user)
    if enrolled is not None:
        return render(request, "accounts/two_factor_enrol.html", {"enrolled": enrolled})
    device = two_factor.unconfirmed_device(user)
    form = TwoFactorCodeForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid() and device.verify_token(form.cleaned_data["code"]):
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            two_factor.passed(request, device)
            messages.success(
                request, "Two-factor sign-in is on: you will enter a code after your password from now on."
            )
            return redirect(_next_url(request))
        if form.is_valid():
            form.add_error("code", "That code is not the one your app shows now. Check the app and the device's clock.")
        status = 400
    context = {
        "form": form,
        "qr_code": two_factor.qr_code_svg(device),
        "secret": two_factor.secret_for_typing(device),
        "required": two_factor.pending_step(request) == two_factor.ENROL,
        "next": request.GET.get("next", ""),
    }
    return render(request, "accounts/two_factor_enrol.html", context, status=status)


def two_factor_verify(request: HttpRequest) -> HttpResponse:
    """The code after the password, for a person with an authenticator."""
    device = two_factor.confirmed_device(request.user)
    if device is None or two_factor.pending_step(request) != two_factor.VERIFY:
        return redirect(_next_url(request))
    form = TwoFactorCodeForm(request.POST or None)
    status = 200
    if request.method == "POST":
        allowed, _why = device.verify_is_allowed()
        if form.is_valid() and allowed and device.verify_token(form.cleaned_data["code"]):
            two_factor.passed(request, device)
            audit.record(audit.Event.TWO_FACTOR_VERIFIED, request=request, target=request.user)
            return redirect(_next_url(request))
        if form.is_valid():
            audit.record(audit.Event.TWO_FACTOR_FAILED, request=request, target=request.user)
            if not allowed:
                form.add_error("code", "Too many wrong codes: wait a little before the next try.")
            else:
                form.add_error("code", "That code is not right. Enter the code your app shows now.")
        status = 400
    return render(
        request, "accounts/two_factor_verify.html", {"form": form, "next": request.GET.get("next", "")}, status=status
    )


# ---------------------------------------------------------------------------------------------------
# Password reset by mail.


@method_decorator(login_not_required, name="dispatch")
class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset, but where no mail can be sent (no EMAIL_URL in production) it says so and offers
    no form, instead of saying that an email was sent. Each request is in the audit trail."""

    def dispatch(self, request, *args, **kwargs):
        if not settings.LOYALTY_PASSWORD_RESET_BY_MAIL:
            return render(request, "registration/password_reset_form.html", {"mail_unavailable": True}, status=503)
        return super().dispatch(request, *args, **kwargs)

    def form_valid(self, form):
        audit.record(
            audit.Event.PASSWORD_RESET_REQUESTED, request=self.request, detail={"email": form.cleaned_data["email"]}
        )
        return super().form_valid(form)
