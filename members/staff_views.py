"""The staff's side of the members' features: the join poster, a customer's card link and erasure, the
managers' member settings and feedback report. Every page needs a staff sign-in and a role."""

from __future__ import annotations

import segno
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

import audit
from customers.models import Customer
from loyalty_site.access import MANAGERS_ONLY, can_manage_program, managers_only, staff_only
from ops.replica import reads_from_replica
from rewards.calendar import add_months
from rewards.forms import PeriodForm, shifted
from rewards.local_time import current_month
from rewards.selectors import default_program

from .forms import EraseForm, MemberSettingsForm
from .models import MailKind
from .selectors import CATEGORY_LABELS, feedback_report
from .services import access
from .services.erasure import ErasureRefused, erase_member
from .services.mail import send_service_mail
from .services.settings import member_settings, save_member_settings


@staff_only
def poster(request: HttpRequest) -> HttpResponse:
    """The join page's QR code for the counter, laid out to print on one page."""
    join_url = access.site_url(reverse("members:join"))
    qr = segno.make(join_url, error="m")
    return render(
        request,
        "members/staff/poster.html",
        {
            "join_url": join_url,
            "qr": mark_safe(qr.svg_inline(scale=10, border=4, omitsize=True, title="QR code of the join page")),  # noqa: S308
            "program": default_program(),
            "join_open": member_settings().join_open,
        },
    )


@staff_only
@require_POST
def card_link(request: HttpRequest, pk: int) -> HttpResponse:
    """Revoke a member's card link, or issue a new one (emailed to them when they have an address)."""
    customer = get_object_or_404(Customer, pk=pk)
    if hasattr(customer, "membership") and customer.membership.erased_at is not None:
        messages.error(request, "This member was erased: there is no card.")
        return redirect("customers:customer", pk=pk)
    if request.POST.get("action") == "revoke":
        access.revoke_card_key(customer)
        audit.record(audit.Event.MEMBER_CARD_LINK_REVOKED, request=request, target=customer)
        messages.success(
            request,
            "The card link is withdrawn: it no longer opens the card, and phones signed in with it are signed out.",
        )
        return redirect("customers:customer", pk=pk)
    link = access.card_link(access.issue_card_key(customer))
    audit.record(audit.Event.MEMBER_CARD_LINK_ISSUED, request=request, target=customer)
    if customer.email:
        send_service_mail(customer.email, "card_link", "{program_name}: your card", customer=customer, card_link=link)
        messages.success(request, f"A new card link was emailed to {customer.email} (any older link no longer works).")
    else:
        messages.success(request, f"New card link (shown once; any older link no longer works): {link}")
    return redirect("customers:customer", pk=pk)


@managers_only
@require_POST
def erase(request: HttpRequest, pk: int) -> HttpResponse:
    customer = get_object_or_404(Customer, pk=pk)
    form = EraseForm(request.POST, member_number=customer.member_number)
    if not form.is_valid():
        errors = "; ".join(error for errors in form.errors.values() for error in errors)
        messages.error(request, f"Not erased: {errors}")
        return redirect("customers:customer", pk=pk)
    try:
        erase_member(customer=customer, erased_by=request.user, reason=form.cleaned_data["reason"], request=request)
    except ErasureRefused as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, "The member's personal data is erased; their points history stays, anonymous.")
    return redirect("customers:customer", pk=pk)


@managers_only
def settings_page(request: HttpRequest) -> HttpResponse:
    if not can_manage_program(request.user):
        raise PermissionDenied(MANAGERS_ONLY)
    current = member_settings()
    initial = {
        "join_open": current.join_open,
        "feedback_interval_days": current.feedback_interval_days,
        "mail_on": [kind for kind in MailKind.values if kind not in current.mail_off],
    }
    form = MemberSettingsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        save_member_settings(
            join_open=form.cleaned_data["join_open"],
            feedback_interval_days=form.cleaned_data["feedback_interval_days"],
            mail_off=[kind for kind in MailKind.values if kind not in form.cleaned_data["mail_on"]],
            changed_by=request.user,
            request=request,
        )
        messages.success(request, "Member settings saved.")
        return redirect("members:settings")
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "members/staff/settings.html",
        {"form": form, "current": current, "join_url": access.site_url(reverse("members:join"))},
        status=status,
    )


@managers_only
@reads_from_replica
def feedback_report_page(request: HttpRequest) -> HttpResponse:
    period = PeriodForm(request.GET, default_start=add_months(current_month(), -11), default_months=12)
    if not period.is_valid():
        return render(request, "members/staff/feedback_report.html", {"period": period}, status=400)
    start, months = period.period()
    report = feedback_report(start=start, months=months)
    rows = [
        {
            "month": month,
            "all": report.by_month[month],
            "stores": [report.by_month_store.get((month, store_id)) for store_id, _name in report.stores],
        }
        for month in report.months
    ]
    most = max(report.distribution) or 1
    answers = report.total.answers
    distribution = [
        {
            "score": score,
            "answers": count,
            "share": round(100 * count / answers) if answers else 0,
            "bar": round(10 * count / most),
        }
        for score, count in enumerate(report.distribution)
    ]
    query = request.GET.copy()
    previous_query, next_query = query.copy(), query.copy()
    previous_query.update({"start": shifted(start, months, -1), "months": str(months)})
    next_query.update({"start": shifted(start, months, +1), "months": str(months)})
    return render(
        request,
        "members/staff/feedback_report.html",
        {
            "period": period,
            "report": report,
            "rows": rows,
            "store_totals": [report.by_store[store_id] for store_id, _name in report.stores],
            "distribution": distribution,
            "labels": CATEGORY_LABELS,
            "start": start,
            "end": add_months(start, months - 1),
            "previous_query": previous_query.urlencode(),
            "next_query": next_query.urlencode(),
        },
    )
