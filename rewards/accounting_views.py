"""The accountant's pages (managers): the liability roll-forward, breakage and revenue, ageing, month close and
the point value. Thin: parse, call the selectors (rewards.liability) or a service, render. Each page issues a
fixed number of queries (pinned in tests/rewards/test_accounting_views.py)."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST
from django_tables2.export import TableExport

import audit
from loyalty_site.access import can_manage_program, is_owner, managers_only
from ops.replica import reads_from_replica
from transactions.forms import add_service_errors

from . import accounting, charts
from .accounting_exports import (
    ageing_headers,
    ageing_rows,
    breakage_headers,
    breakage_rows,
    dataset,
    roll_forward_headers,
    roll_forward_rows,
)
from .accounting_forms import AsOfForm, BreakageEstimateForm, CloseMonthForm, PointValueForm, ReopenMonthForm
from .calendar import add_months
from .forms import PeriodForm, shifted
from .liability import (
    LINES,
    NO_STORE_NOTE,
    TOTAL,
    ageing,
    liability_report,
    month_closes,
    reproduction,
)
from .local_time import current_month
from .models import LedgerKind, PointValue
from .services.books import CloseRefused, closable_month, close_month, closed_books, reopen_month
from .services.valuation import set_breakage_estimate, set_point_value
from .views import EXPORT_FORMATS, _query_with

MANAGES_PROGRAM_ONLY = "Only those who manage the program set what a point is worth and the breakage estimate."
MEDIA = {TableExport.CSV: "text/csv; charset=utf-8", TableExport.XLSX: TableExport.FORMATS[TableExport.XLSX]}


def _period(request: HttpRequest) -> PeriodForm:
    # The last three complete months unless the picker says otherwise.
    return PeriodForm(request.GET, default_start=add_months(current_month(), -3), default_months=3)


def _download(request: HttpRequest, data, *, export_format: str, filename: str, report: str) -> HttpResponse:
    """A dataset as a CSV or XLSX download, recorded in the audit trail as every report export is."""
    response = HttpResponse(data.export(export_format), content_type=MEDIA[export_format])
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    audit.record(
        audit.Event.EXPORT,
        request=request,
        detail={"report": report, "file": filename, "filters": _query_with(request, _export=None)},
    )
    return response


def _period_context(request: HttpRequest, start: dt.date, months: int) -> dict:
    return {
        "start": start,
        "end": add_months(start, months - 1),
        "months": months,
        "previous_query": _query_with(request, start=shifted(start, months, -1), months=str(months)),
        "next_query": _query_with(request, start=shifted(start, months, +1), months=str(months)),
        "csv_query": _query_with(request, _export="csv"),
        "xlsx_query": _query_with(request, _export="xlsx"),
    }


@managers_only
@reads_from_replica
def liability(request: HttpRequest) -> HttpResponse:
    """The liability roll-forward of a period, month by month, of the whole program or one store; each store's
    period beside it."""
    period = _period(request)
    if not period.is_valid():
        return render(request, "rewards/accounting/liability.html", {"period": period}, status=400)
    start, months = period.period()
    report = liability_report(start=start, months=months)
    export_format = request.GET.get("_export")
    if export_format in EXPORT_FORMATS:
        data = dataset(roll_forward_headers(), roll_forward_rows(report), title=f"Liability {start:%Y-%m} {months}m")
        filename = f"points-liability-{start:%Y-%m}-{months}m.{export_format}"
        return _download(request, data, export_format=export_format, filename=filename, report="points liability")
    scope, rows = report.scope(request.GET.get("store"))
    books = closed_books()
    chart = charts.bar_chart(
        [row.month for row in rows],
        [
            charts.Series("Issued with sales", [row.line(LedgerKind.EARN).points for row in rows]),
            charts.Series("Issued without sales", [row.line(LedgerKind.BONUS).points for row in rows]),
            charts.Series("Redeemed", [row.line(LedgerKind.REDEMPTION).points for row in rows]),
            charts.Series("Expired", [row.line(LedgerKind.EXPIRY).points for row in rows]),
        ],
        title=f"Points issued and used, {scope.label}, {rows[0].month:%B %Y} to {rows[-1].month:%B %Y}",
        description=(
            "Bars above the line are points issued with sales (solid) and without (hatched); bars below it are "
            "points redeemed (dotted) and expired (crossed). The roll-forward below gives every line, in money too."
        ),
    )
    context = {
        "period": period,
        "report": report,
        "scope": scope,
        "rows": rows,
        "labels": [label for _kind, label in LINES],
        # The table's lines down, the months across.
        "line_rows": [(label, [row.lines[index] for row in rows]) for index, (_kind, label) in enumerate(LINES)],
        "total_summary": (TOTAL, accounting.summarise(report.total), _query_with(request, store=None)),
        "store_summaries": [
            (one, accounting.summarise(months_of), _query_with(request, store=one.code))
            for one, months_of in report.stores
        ],
        "closed": {row.month for row in rows if books.month_closed(row.month)},
        "books": books,
        "chart": chart,
        "no_store_note": NO_STORE_NOTE,
        **_period_context(request, start, months),
    }
    return render(request, "rewards/accounting/liability.html", context)


@managers_only
@reads_from_replica
def breakage(request: HttpRequest) -> HttpResponse:
    """Breakage and the revenue recognised, month by month; the merchant's estimate, and the form to set it."""
    period = _period(request)
    if not period.is_valid():
        return render(request, "rewards/accounting/breakage.html", {"period": period}, status=400)
    start, months = period.period()
    return _breakage_page(request, start, months, period=period)


def _breakage_page(request, start, months, *, period, form=None, status=200) -> HttpResponse:
    report = liability_report(start=start, months=months)
    export_format = request.GET.get("_export")
    if export_format in EXPORT_FORMATS and form is None:
        data = dataset(breakage_headers(), breakage_rows(report), title=f"Breakage {start:%Y-%m} {months}m")
        filename = f"breakage-revenue-{start:%Y-%m}-{months}m.{export_format}"
        return _download(request, data, export_format=export_format, filename=filename, report="breakage and revenue")
    books = closed_books()
    chart = charts.bar_chart(
        report.months,
        [
            charts.Series("Redemptions", [_in_cents(month.redemption_revenue) for month in report.breakage]),
            charts.Series("Breakage", [_in_cents(month.breakage_revenue) for month in report.breakage]),
        ],
        title=f"Revenue recognised from points, in cents, {start:%B %Y} to {add_months(start, months - 1):%B %Y}",
        description=(
            "Per month, in cents of the currency: revenue recognised as points were redeemed (solid) and from "
            "expected breakage under the proportional method (hatched). The table below gives the same figures."
        ),
    )
    default_month = closable_month(books) or current_month()
    if books.first_open_month and default_month < books.first_open_month:
        default_month = books.first_open_month
    context = {
        "period": period,
        "report": report,
        "months_of": [
            (roll, broken, roll.line(LedgerKind.REDEMPTION).points)
            for roll, broken in zip(report.total, report.breakage, strict=True)
        ],
        "estimates": report.estimates,
        "form": form or BreakageEstimateForm(initial={"effective_month": default_month}),
        "can_set": can_manage_program(request.user),
        "books": books,
        "chart": chart,
        **_period_context(request, start, months),
    }
    return render(request, "rewards/accounting/breakage.html", context, status=status)


def _in_cents(amount) -> int:
    return int(amount * 100)


@managers_only
@require_POST
def breakage_estimate(request: HttpRequest) -> HttpResponse:
    """Set (or clear, back to the observed rate) the merchant's breakage estimate from a month on."""
    if not can_manage_program(request.user):
        raise PermissionDenied(MANAGES_PROGRAM_ONLY)
    form = BreakageEstimateForm(request.POST)
    if form.is_valid():
        try:
            estimate = set_breakage_estimate(
                rate=form.cleaned_data["rate"],
                reason=form.cleaned_data["reason"],
                set_by=request.user,
                effective_month=form.cleaned_data["effective_month"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            shown = "the observed rate" if estimate.rate is None else f"{estimate.rate}%"
            messages.success(request, f"From {estimate.effective_month:%B %Y} the breakage used is {shown}.")
            return redirect("accounting:breakage")
    period = PeriodForm(None, default_start=add_months(current_month(), -3), default_months=3)
    start, months = add_months(current_month(), -3), 3
    return _breakage_page(request, start, months, period=period, form=form, status=400)


@managers_only
@reads_from_replica
def ageing_page(request: HttpRequest) -> HttpResponse:
    """Points outstanding by the month they were earned, and what the expiry policy lapses in the next months."""
    form = AsOfForm(request.GET, default=current_month())
    if not form.is_valid():
        return render(request, "rewards/accounting/ageing.html", {"form": form}, status=400)
    found = ageing(as_of=form.cleaned_data["as_of"])
    export_format = request.GET.get("_export")
    if export_format in EXPORT_FORMATS:
        data = dataset(ageing_headers(), ageing_rows(found), title=f"Ageing {found.as_of:%Y-%m}")
        filename = f"points-ageing-{found.as_of:%Y-%m}.{export_format}"
        return _download(request, data, export_format=export_format, filename=filename, report="points ageing")
    chart = charts.bar_chart(
        [month for month, _points in found.lapses],
        [charts.Series("Points lapsing", [points for _month, points in found.lapses])],
        title=f"Points the expiry policy lapses at the start of each month, from {found.lapses[0][0]:%B %Y}",
        description=(
            "Per month, the points that lapse at its start if members neither earn nor spend until then. "
            "The table beside it gives the same figures."
        ),
    )
    context = {
        "form": form,
        "ageing": found,
        "shares": [(bucket, (bucket.points * 100 / found.balance) if found.balance else 0) for bucket in found.buckets],
        "chart": chart,
        "csv_query": _query_with(request, _export="csv"),
        "xlsx_query": _query_with(request, _export="xlsx"),
    }
    return render(request, "rewards/accounting/ageing.html", context)


@managers_only
def month_close(request: HttpRequest) -> HttpResponse:
    """Which months are closed, closing the next one (managers), reopening the latest (owners, with a reason)."""
    return _close_page(request)


def _close_page(request, *, close_form=None, reopen_form=None, status=200) -> HttpResponse:
    books = closed_books()
    closes = month_closes()
    found = reproduction(closes)
    next_month = closable_month(books)
    preview = None
    if next_month is not None:
        report = liability_report(start=next_month, months=1)
        preview = {"month": next_month, "roll": report.total[0], "breakage": report.breakage[0]}
    context = {
        "books": books,
        # Each close, with where its figures no longer reproduce ([] when they do; None once reopened).
        "closes": [(close, found.get(close.pk)) for close in closes],
        "next_month": next_month,
        "first_close": books.through is None,
        "preview": preview,
        "close_form": close_form or CloseMonthForm(initial={"month": next_month}),
        "reopen_form": reopen_form or ReopenMonthForm(initial={"month": books.through}),
        "can_reopen": is_owner(request.user),
    }
    return render(request, "rewards/accounting/close.html", context, status=status)


@managers_only
@require_POST
def close_month_view(request: HttpRequest) -> HttpResponse:
    form = CloseMonthForm(request.POST)
    if form.is_valid():
        try:
            close = close_month(month=form.cleaned_data["month"], closed_by=request.user)
        except CloseRefused as refusal:
            form.add_error("month", str(refusal))
        else:
            messages.success(request, f"{close.month:%B %Y} is closed: nothing can be dated in it any more.")
            return redirect("accounting:close")
    return _close_page(request, close_form=form, status=400)


@managers_only
@require_POST
def reopen_month_view(request: HttpRequest) -> HttpResponse:
    form = ReopenMonthForm(request.POST)
    if form.is_valid():
        try:
            close = reopen_month(
                month=form.cleaned_data["month"], reopened_by=request.user, reason=form.cleaned_data["reason"]
            )
        except CloseRefused as refusal:
            form.add_error(refusal.field, str(refusal))
        else:
            messages.success(request, f"{close.month:%B %Y} is open again.")
            return redirect("accounting:close")
    return _close_page(request, reopen_form=form, status=400)


@managers_only
def point_value(request: HttpRequest) -> HttpResponse:
    """What a point is worth, its history, and (for those who manage the program) a new value from now or later."""
    form = None
    if request.method == "POST":
        if not can_manage_program(request.user):
            raise PermissionDenied(MANAGES_PROGRAM_ONLY)
        form = PointValueForm(request.POST)
        if form.is_valid():
            try:
                version = set_point_value(
                    value=form.cleaned_data["value"],
                    effective_from=form.cleaned_data["effective_from"],
                    note=form.cleaned_data["note"],
                    set_by=request.user,
                )
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                shown = timezone.localtime(version.effective_from)
                messages.success(request, f"A point is worth {version.value} from {shown:%Y-%m-%d %H:%M}.")
                return redirect("accounting:point_value")
    history = list(
        PointValue.objects.filter(program__is_default=True).select_related("set_by").order_by("-effective_from")
    )
    now = timezone.now()
    context = {
        "history": history,
        "in_force": next((version for version in history if version.effective_from <= now), None),
        "form": form or PointValueForm(),
        "can_set": can_manage_program(request.user),
    }
    return render(request, "rewards/accounting/point_value.html", context, status=400 if form is not None else 200)
