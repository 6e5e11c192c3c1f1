"""The audit log as a django-tables2 table: on the page, and exported (CSV, XLSX) with formulas made inert."""

from __future__ import annotations

import django_tables2 as tables
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from rewards.tables import ExportSafeTable

from .models import AuditEvent

HIDDEN = "(hidden)"


def _text(value) -> str:
    if value is None or value == "":
        return "–"
    if isinstance(value, list):
        return ", ".join(_text(item) for item in value)
    return str(value)


def describe_changes(changes: dict | None) -> list[str]:
    """`{field: [before, after]}` (and auditlog's many-to-many form) as lines a person reads."""
    lines = []
    for field, change in (changes or {}).items():
        if field == "id":
            continue  # a new row's own number: the "About" column names it
        label = field.replace("_", " ")
        if isinstance(change, dict) and change.get("type") == "m2m":
            verb = "added" if change.get("operation") == "add" else "removed"
            lines.append(f"{label}: {verb} {_text(change.get('objects'))}")
        elif isinstance(change, list | tuple) and len(change) == 2:
            before, after = change
            if before == after == HIDDEN:
                lines.append(f"{label}: changed")
            else:
                lines.append(f"{label}: {_text(before)} → {_text(after)}")
        else:
            lines.append(f"{label}: {_text(change)}")
    return lines


def describe_detail(detail: dict | None) -> list[str]:
    return [
        f"{key.replace('_', ' ')}: {_text(value)}" for key, value in (detail or {}).items() if value not in (None, "")
    ]


class AuditEventTable(ExportSafeTable):
    timestamp = tables.Column(verbose_name="When", attrs={"td": {"class": "nowrap"}})
    who = tables.Column(verbose_name="Who", accessor="actor_username", orderable=False, empty_values=())
    event = tables.Column(verbose_name="Event", orderable=False)
    about = tables.Column(verbose_name="About", accessor="object_repr", orderable=False, empty_values=())
    changes = tables.Column(verbose_name="What changed", orderable=False, empty_values=())
    detail = tables.Column(verbose_name="Detail", accessor="additional_data", orderable=False, empty_values=())
    remote_addr = tables.Column(verbose_name="Address", orderable=False, default="–")

    class Meta:
        model = AuditEvent
        fields = ()
        sequence = ("timestamp", "who", "event", "about", "changes", "detail", "remote_addr")
        template_name = "django_tables2/table.html"
        attrs = {"class": "table report-table", "id": "audit-log"}
        order_by_field = "sort"
        per_page = 50

    def render_timestamp(self, value):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")

    def value_timestamp(self, value):
        return timezone.localtime(value).isoformat()

    def value_who(self, record):
        if record.actor_username:
            return record.actor_username
        return record.actor.get_username() if record.actor_id else "(nobody signed in)"

    def render_who(self, record):
        return self.value_who(record)

    def value_about(self, record):
        if not record.object_repr:
            return ""
        kind = record.content_type.name if record.content_type_id else ""
        return f"{kind} {record.object_repr}".strip()

    def render_about(self, record):
        return self.value_about(record) or "–"

    def value_changes(self, record):
        return "; ".join(describe_changes(record.changes))

    def render_changes(self, record):
        lines = describe_changes(record.changes)
        return (
            format_html('<ul class="changes">{}</ul>', format_html_join("", "<li>{}</li>", ((line,) for line in lines)))
            if lines
            else "–"
        )

    def value_detail(self, record):
        return "; ".join(describe_detail(record.additional_data))

    def render_detail(self, record):
        return self.value_detail(record) or "–"
