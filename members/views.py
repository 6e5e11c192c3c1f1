"""The members' pages: public by design (no staff sign-in), each showing only the signed-in member's own data.

Thin: parse, throttle, call a service or selector, render. The member is whoever the member cookie names
(members.services.access.signed_in_member); no page takes a customer id from the address.
"""

from __future__ import annotations

import datetime as dt
import json

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from audit.services import client_address
from rewards.selectors import (
    affordable_rewards,
    customer_tier_status,
    default_program,
    ledger_balance,
    points_expiring_soon,
)

from .forms import EmailForm, FeedbackForm, JoinForm, PreferencesForm
from .models import MailChoice
from .selectors import card_activity, member_data, next_reward, referrals_of
from .services import access, joining
from .services.feedback import FeedbackRefused, may_answer, read_survey_link, record_feedback, survey_due
from .services.mail import ALL, MAILS, choose, mail_choices, read_unsubscribe_token, unsubscribe
from .services.settings import member_settings
from .tasks import mail_sign_in_links
from .throttle import Limit, Verdict, blocked, hit

HOUR = dt.timedelta(hours=1)


def _address_limit() -> Limit:
    return Limit("member-forms", settings.LOYALTY_MEMBER_ATTEMPTS_PER_HOUR, HOUR)


def _mail_limit() -> Limit:
    return Limit("mail-to", settings.LOYALTY_MEMBER_MAILS_PER_HOUR, HOUR)


def _bad_link_limit() -> Limit:
    return Limit("bad-links", settings.LOYALTY_MEMBER_ATTEMPTS_PER_HOUR, HOUR)


def _page(request: HttpRequest, template: str, context: dict | None = None, status: int = 200) -> HttpResponse:
    """Render a member page: every one names the program (one query)."""
    return render(request, template, {"program_name": default_program().name, **(context or {})}, status=status)


def _too_many(request: HttpRequest, verdict: Verdict, why: str) -> HttpResponse:
    minutes = max(1, (verdict.retry_after + 59) // 60)
    response = _page(request, "members/throttled.html", {"minutes": minutes, "why": why}, status=429)
    response["Retry-After"] = str(verdict.retry_after)
    return response


def _address(request: HttpRequest) -> str:
    return client_address(request) or "unknown"


def _refused_link(request: HttpRequest, title: str, message: str) -> HttpResponse:
    """A link that is unknown, used or expired: counted per address, so nobody can try links by the thousand."""
    verdict = hit(_bad_link_limit(), _address(request))
    if not verdict.allowed:
        return _too_many(request, verdict, "links that do not work")
    return _page(request, "members/link_refused.html", {"title": title, "message": message}, status=404)


def _links_blocked(request: HttpRequest) -> HttpResponse | None:
    verdict = blocked(_bad_link_limit(), _address(request))
    return None if verdict.allowed else _too_many(request, verdict, "links that do not work")


def member_qr(member_number: str) -> str:
    """The member number as a QR code (SVG, drawn on the server): what a till's scanner types, then Enter."""
    qr = segno.make(member_number, error="m")
    return mark_safe(qr.svg_inline(scale=6, border=4, omitsize=True, title=f"QR code of member number {member_number}"))  # noqa: S308


# --- joining -----------------------------------------------------------------------------------------------


@login_not_required
@require_http_methods(["GET", "POST"])
def join(request: HttpRequest) -> HttpResponse:
    if not member_settings().join_open:
        return _page(request, "members/join_closed.html", status=404)
    if request.method == "GET":
        form = JoinForm(initial={"ref": request.GET.get("ref", "")[:16]})
        return _page(request, "members/join.html", {"form": form, "referred": bool(request.GET.get("ref"))})
    verdict = hit(_address_limit(), _address(request))
    if not verdict.allowed:
        return _too_many(request, verdict, "join requests")
    form = JoinForm(request.POST)
    if not form.is_valid():
        return _page(request, "members/join.html", {"form": form}, status=400)
    verdict = hit(_mail_limit(), form.cleaned_data["email"])
    if not verdict.allowed:
        return _too_many(request, verdict, "emails to this address")
    kinds, wording = form.mail_kinds()
    joining.request_to_join(
        name=form.cleaned_data["name"],
        email=form.cleaned_data["email"],
        phone=form.cleaned_data["phone"],
        birthday=form.cleaned_data["birthday"],
        mail_kinds=kinds,
        consent_wording=wording,
        referral_code=form.cleaned_data["ref"],
    )
    return redirect("members:join_sent")


@login_not_required
def join_sent(request: HttpRequest) -> HttpResponse:
    return _page(request, "members/join_sent.html", {"hours": settings.LOYALTY_JOIN_CONFIRM_HOURS})


@login_not_required
@never_cache
@require_http_methods(["GET", "POST"])
def join_confirm(request: HttpRequest, token: str) -> HttpResponse:
    # The link only shows a button: mail scanners that open links must not confirm for the member.
    if refused := _links_blocked(request):
        return refused
    if request.method == "GET":
        join_request = joining.pending_join(token)
        if join_request is None:
            return _refused_link(
                request, "This link does not work", "It has expired or was used already. Join again to get a new one."
            )
        return _page(request, "members/join_confirm.html", {"first_name": join_request.name.split()[0]})
    customer = joining.confirm_join(token)
    if customer is None:
        return _refused_link(
            request, "This link does not work", "It has expired or was used already. Join again to get a new one."
        )
    messages.success(request, "Welcome! Your email is confirmed and your card is ready.")
    return access.sign_member_in(redirect("members:card"), customer)


# --- signing in --------------------------------------------------------------------------------------------


@login_not_required
@never_cache
def card_link(request: HttpRequest, key: str) -> HttpResponse:
    """The card's private link: signs this phone in as the member and opens the card."""
    if refused := _links_blocked(request):
        return refused
    membership = access.member_by_card_key(key)
    if membership is None:
        return _refused_link(
            request, "This card link does not work",
            "It was replaced by a newer one or withdrawn. Sign in with your email to open your card.",
        )  # fmt: skip
    return access.sign_member_in(redirect("members:card"), membership.customer)


@login_not_required
@require_http_methods(["GET", "POST"])
def sign_in(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _page(request, "members/sign_in.html", {"form": EmailForm()})
    verdict = hit(_address_limit(), _address(request))
    if not verdict.allowed:
        return _too_many(request, verdict, "sign-in requests")
    form = EmailForm(request.POST)
    if not form.is_valid():
        return _page(request, "members/sign_in.html", {"form": form}, status=400)
    verdict = hit(_mail_limit(), form.cleaned_data["email"])
    if not verdict.allowed:
        return _too_many(request, verdict, "emails to this address")
    # Known or not, the same answer and the same work here: the worker looks the address up and mails.
    mail_sign_in_links(form.cleaned_data["email"])
    return redirect("members:sign_in_sent")


@login_not_required
def sign_in_sent(request: HttpRequest) -> HttpResponse:
    return _page(request, "members/sign_in_sent.html", {"minutes": settings.LOYALTY_MEMBER_SIGN_IN_MINUTES})


@login_not_required
@never_cache
@require_http_methods(["GET", "POST"])
def sign_in_link(request: HttpRequest, token: str) -> HttpResponse:
    if refused := _links_blocked(request):
        return refused
    refusal = ("This sign-in link does not work", "It has expired or was used already. Ask for a new one below.")
    if request.method == "GET":
        link = access.usable_sign_in_link(token)
        if link is None:
            return _refused_link(request, *refusal)
        return _page(request, "members/sign_in_confirm.html")
    customer = access.use_sign_in_link(token)
    if customer is None:
        return _refused_link(request, *refusal)
    return access.sign_member_in(redirect("members:card"), customer)


@login_not_required
@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    messages.info(request, "You are signed out on this device.")
    return access.sign_member_out(redirect("members:sign_in"))


# --- the card ----------------------------------------------------------------------------------------------


def _member_or_sign_in(request: HttpRequest):
    member = access.signed_in_member(request)
    if member is None:
        return None, redirect("members:sign_in")
    return member, None


@login_not_required
@never_cache
def card(request: HttpRequest) -> HttpResponse:
    member, elsewhere = _member_or_sign_in(request)
    if elsewhere:
        return elsewhere
    membership = member.membership
    parts = ledger_balance(member.pk)
    balance = parts.balance
    tier = customer_tier_status(member.pk)
    rewards = list(
        affordable_rewards(member.pk, balance=balance, tier_rank=tier.tier.rank if tier and tier.tier else None)
    )
    upcoming = next_reward(balance)
    referrals = referrals_of(member.pk)
    context = {
        "member": member,
        "membership": membership,
        "balance": balance,
        "tier": tier,
        "rewards": rewards,
        "next_reward": upcoming,
        "to_next_reward": upcoming.points_cost - balance if upcoming else None,
        "expiring": points_expiring_soon(member.pk, days=30),
        "activity": card_activity(member.pk, carried=parts.carried, limit=10),
        "referrals": referrals,
        "referral_points": sum(referral.bonus for referral in referrals),
        "referral_link": access.site_url(reverse("members:join") + f"?ref={membership.referral_code}")
        if membership.referral_code
        else "",
        "survey_due": survey_due(member) is not None,
        "qr": member_qr(member.member_number),
    }
    return _page(request, "members/card.html", context)


@login_not_required
@never_cache
def export(request: HttpRequest) -> HttpResponse:
    member, elsewhere = _member_or_sign_in(request)
    if elsewhere:
        return elsewhere
    body = json.dumps(member_data(member), cls=DjangoJSONEncoder, indent=2, ensure_ascii=False)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="my-data-{member.member_number}.json"'
    return response


@login_not_required
@never_cache
@require_http_methods(["GET", "POST"])
def preferences(request: HttpRequest) -> HttpResponse:
    member, elsewhere = _member_or_sign_in(request)
    if elsewhere:
        return elsewhere
    choices = mail_choices(member.pk)
    confirmed = member.membership.email_confirmed_at is not None
    form = PreferencesForm(request.POST or None, choices=choices)
    if request.method == "POST" and form.is_valid():
        changed = choose(member, dict(form.cleaned_data), source=MailChoice.Source.CARD)
        messages.success(request, "Your email settings are saved." if changed else "Nothing changed.")
        return redirect("members:preferences")
    return _page(
        request,
        "members/preferences.html",
        {"member": member, "form": form, "confirmed": confirmed, "off": member_settings().mail_off},
    )


@login_not_required
@require_POST
def confirm_email(request: HttpRequest) -> HttpResponse:
    """From the email settings: mail the member a sign-in link, which confirms the address when opened."""
    member, elsewhere = _member_or_sign_in(request)
    if elsewhere:
        return elsewhere
    verdict = hit(_mail_limit(), member.email or "none")
    if not verdict.allowed:
        return _too_many(request, verdict, "emails to this address")
    if member.email:
        mail_sign_in_links(member.email)
    messages.info(request, "We emailed you a link: open it to confirm your address.")
    return redirect("members:preferences")


# --- feedback -----------------------------------------------------------------------------------------------


def _survey(request: HttpRequest, customer, purchase, *, action: str) -> HttpResponse:
    if purchase is None or not may_answer(customer, purchase):
        return _page(request, "members/feedback_done.html", {"already": True})
    form = FeedbackForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            _feedback, bonus = record_feedback(
                customer=customer, purchase=purchase, score=form.cleaned_data["score"],
                comment=form.cleaned_data["comment"],
            )  # fmt: skip
        except FeedbackRefused:
            return _page(request, "members/feedback_done.html", {"already": True})
        return _page(request, "members/feedback_done.html", {"bonus": bonus})
    status = 400 if request.method == "POST" else 200
    return _page(
        request, "members/feedback.html", {"form": form, "purchase": purchase, "action": action}, status=status
    )


@login_not_required
@never_cache
@require_http_methods(["GET", "POST"])
def feedback(request: HttpRequest) -> HttpResponse:
    member, elsewhere = _member_or_sign_in(request)
    if elsewhere:
        return elsewhere
    return _survey(request, member, survey_due(member), action=reverse("members:feedback"))


@login_not_required
@never_cache
@require_http_methods(["GET", "POST"])
def feedback_link(request: HttpRequest, token: str) -> HttpResponse:
    """The survey link of a points email: the signed link names the member and the purchase."""
    if refused := _links_blocked(request):
        return refused
    found = read_survey_link(token)
    if found is None:
        return _refused_link(request, "This survey link does not work", "It has expired. Thank you all the same!")
    customer, purchase = found
    return _survey(request, customer, purchase, action=reverse("members:feedback_link", args=[token]))


# --- unsubscribing ------------------------------------------------------------------------------------------


@login_not_required
@csrf_exempt  # the signed link is the authority; mail clients post RFC 8058 one-click requests without a token
@never_cache
@require_http_methods(["GET", "POST"])
def unsubscribe_view(request: HttpRequest, token: str) -> HttpResponse:
    found = read_unsubscribe_token(token)
    if found is None:
        return _refused_link(request, "This unsubscribe link does not work", "Open your card's email settings instead.")
    customer, kind = found
    label = "all emails from the program" if kind == ALL else f"“{MAILS[kind].kind.label}”"
    if request.method == "GET":
        # A GET only asks: mail scanners open links, and must not unsubscribe anyone.
        return _page(request, "members/unsubscribe.html", {"label": label, "done": False})
    one_click = request.POST.get("List-Unsubscribe") == "One-Click"
    unsubscribe(customer, kind, source=MailChoice.Source.ONE_CLICK if one_click else MailChoice.Source.UNSUBSCRIBE_LINK)
    return _page(request, "members/unsubscribe.html", {"label": label, "done": True})
