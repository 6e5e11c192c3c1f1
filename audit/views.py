"""The audit log page: browse, filter and export the trail. Owners and managers; nothing here writes but
the export's own event."""

from __future__ import annotations

from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django_tables2 import RequestConfig
from django_tables2.export import TableExport

from .events import Event
from .filters import AuditEventFilter
from .models import AuditEvent
from .services import record
from .tables import AuditEventTable

EXPORT_FORMATS = (TableExport.CSV, TableExport.XLSX)


@permission_required("audit.view_auditevent", raise_exception=True)
def audit_log(request: HttpRequest) -> HttpResponse:
    events = AuditEvent.objects.select_related("actor", "content_type").order_by("-timestamp", "-id")
    filters = AuditEventFilter(request.GET, queryset=events)
    if not filters.is_valid():
        return render(request, "audit/log.html", {"filters": filters}, status=400)
    export_format = request.GET.get("_export")
    if export_format in EXPORT_FORMATS:
        table = AuditEventTable(filters.qs)
        RequestConfig(request, paginate=False).configure(table)
        record(
            Event.EXPORT,
            request=request,
            detail={"report": "audit log", "format": export_format, "filters": _filters_used(request)},
        )
        exporter = TableExport(export_format, table, dataset_kwargs={"title": "Audit log"})
        return exporter.response(filename=f"audit-log-{timezone.localdate():%Y-%m-%d}.{export_format}")
    table = AuditEventTable(filters.qs)
    RequestConfig(request, paginate={"per_page": 50}).configure(table)
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "filters": filters,
        "table": table,
        "csv_query": _with(query, "csv"),
        "xlsx_query": _with(query, "xlsx"),
    }
    return render(request, "audit/log.html", context)


def _with(query, export_format: str) -> str:
    query = query.copy()
    query["_export"] = export_format
    return query.urlencode()


def _filters_used(request: HttpRequest) -> dict:
    return {key: value for key, value in request.GET.items() if value and key not in ("_export", "page")}
