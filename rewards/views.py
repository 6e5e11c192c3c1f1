"""The managers' reports: monthly points per customer, a customer's statement, the program at a glance.

Thin: parse the request, call the selectors, render. Every page issues a fixed number of queries
(pinned in tests/rewards/test_views.py).
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django_tables2 import RequestConfig
from django_tables2.export import TableExport

import audit
from customers.models import Customer
from loyalty_site.access import managers_only
from ops.replica import reads_from_replica

from . import charts
from .calendar import add_months
from .filters import MonthlyPointsFilter
from .forms import PeriodForm, shifted
from .local_time import current_month
from .selectors import (
    customer_ledger,
    customer_points_by_month,
    customer_tier_status,
    default_program,
    ledger_balance,
    monthly_points,
    point_value_at,
    points_expiring_soon,
    points_outstanding,
    program_by_month,
    store_figures,
)
from .tables import CountedPaginator, LedgerTable, MonthlyPointsTable

EXPORT_FORMATS = (TableExport.CSV, TableExport.XLSX)


def _query_with(request: HttpRequest, **changes) -> str:
    """The current query string with some parameters changed (None removes one); the page number is dropped."""
    query = request.GET.copy()
    query.pop("page", None)
    for key, value in changes.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = value
    return query.urlencode()


@managers_only
@reads_from_replica
def monthly_points_report(request: HttpRequest) -> HttpResponse:
    # The last three complete months unless the picker says otherwise.
    period = PeriodForm(request.GET, default_start=add_months(current_month(), -3), default_months=3)
    filters = MonthlyPointsFilter(request.GET)
    context = {"period": period, "filters": filters}
    if not (period.is_valid() and filters.form.is_valid()):
        return render(request, "rewards/monthly_points.html", context, status=400)

    start, months = period.period()
    report = monthly_points(start=start, months=months, **filters.selector_arguments())

    export_format = request.GET.get("_export")
    if export_format in EXPORT_FORMATS:
        # The whole filtered result in the order on screen, then its totals (as the page's footer).
        table = MonthlyPointsTable(report.rows, months=report.months, totals=report.count_and_totals()[1])
        RequestConfig(request, paginate=False).configure(table)
        exporter = TableExport(export_format, table, dataset_kwargs={"title": f"Points {start:%Y-%m} {months}m"})
        filename = f"monthly-points-{start:%Y-%m}-{months}m.{export_format}"
        audit.record(
            audit.Event.EXPORT,
            request=request,
            detail={"report": "monthly points", "file": filename, "filters": _query_with(request, _export=None)},
        )
        return exporter.response(filename=filename)

    row_count, totals = report.count_and_totals()
    table = MonthlyPointsTable(report.rows, months=report.months, totals=totals)
    RequestConfig(request, paginate={"paginator_class": CountedPaginator, "count": row_count}).configure(table)
    context.update(
        report=report,
        table=table,
        row_count=row_count,
        start=start,
        end=add_months(start, months - 1),
        months=months,
        previous_query=_query_with(request, start=shifted(start, months, -1), months=str(months)),
        next_query=_query_with(request, start=shifted(start, months, +1), months=str(months)),
        csv_query=_query_with(request, _export="csv"),
        xlsx_query=_query_with(request, _export="xlsx"),
    )
    return render(request, "rewards/monthly_points.html", context)


@managers_only
@reads_from_replica
def customer_statement(request: HttpRequest, pk: int) -> HttpResponse:
    customer = get_object_or_404(Customer, pk=pk)
    first = add_months(current_month(), -11)
    by_month = customer_points_by_month(customer.pk, start=first, months=12)
    chart = charts.bar_chart(
        [row.month for row in by_month],
        [
            charts.Series("Earned", [row.earned for row in by_month]),
            charts.Series("Reversed", [row.reversed for row in by_month]),
        ],
        title=f"Points of {customer.name} per month, {by_month[0].month:%B %Y} to {by_month[-1].month:%B %Y}",
        description=(
            "Bars above the line are points earned by purchases in the month (solid); bars below it are "
            "points taken back by refunds (hatched). The table below the chart gives the same figures."
        ),
    )
    ledger = LedgerTable(customer_ledger(customer.pk))
    RequestConfig(request, paginate={"per_page": 25}).configure(ledger)
    # The balance with the lines of detached months (paginated in SQL, the ledger cannot interleave them):
    # shown above the ledger, so that its lines and these add up to the balance.
    parts = ledger_balance(customer.pk)
    context = {
        "customer": customer,
        "balance": parts.balance,
        "parts": parts,
        "expiring": points_expiring_soon(customer.pk, days=30),
        "tier": customer_tier_status(customer.pk),
        "by_month": by_month,
        "chart": chart,
        "ledger": ledger,
        "time_zone": settings.TIME_ZONE,
    }
    return render(request, "rewards/statement.html", context)


@managers_only
@reads_from_replica
def program_at_a_glance(request: HttpRequest) -> HttpResponse:
    # The twelve months up to and including the current one unless the picker says otherwise.
    period = PeriodForm(request.GET, default_start=add_months(current_month(), -11), default_months=12)
    if not period.is_valid():
        return render(request, "rewards/glance.html", {"period": period}, status=400)
    start, months = period.period()
    by_month = program_by_month(start=start, months=months)
    program = default_program()
    point_value = point_value_at(program=program)
    outstanding = points_outstanding()
    stores, all_stores = store_figures(start=start, months=months)
    # The chart and the table show the months that have data (a new program's first year is mostly empty).
    with_data = [row for row in by_month if any((row.earned, row.reversed, row.redeemed, row.expired, row.adjusted))]
    shown = by_month[by_month.index(with_data[0]) : by_month.index(with_data[-1]) + 1] if with_data else by_month
    chart = charts.bar_chart(
        [row.month for row in shown],
        [
            charts.Series("Earned", [row.earned for row in shown]),
            charts.Series("Reversed", [row.reversed for row in shown]),
            charts.Series("Redeemed", [row.redeemed for row in shown]),
            charts.Series("Expired", [row.expired for row in shown]),
        ],
        title=f"Points per month, {shown[0].month:%B %Y} to {shown[-1].month:%B %Y}",
        description=(
            "Bars above the line are points earned (solid); bars below it are points reversed by refunds "
            "(hatched), redeemed (dotted) and expired (crossed). The table below gives the same figures."
        ),
    )
    context = {
        "period": period,
        "by_month": shown,
        "trimmed": len(shown) < len(by_month),
        "start": start,
        "end": add_months(start, months - 1),
        "stores": stores,
        "all_stores": all_stores,
        "chart": chart,
        "program": program,
        "outstanding": outstanding,
        "point_value": point_value,
        "liability": outstanding * point_value,
        "previous_query": _query_with(request, start=shifted(start, months, -1), months=str(months)),
        "next_query": _query_with(request, start=shifted(start, months, +1), months=str(months)),
    }
    return render(request, "rewards/glance.html", context)
