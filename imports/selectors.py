"""Reads for the import pages."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import ImportJob, ImportProblem

RECENT_JOBS = 20


def recent_jobs() -> QuerySet[ImportJob]:
    return ImportJob.objects.select_related("uploaded_by").order_by("-id")[:RECENT_JOBS]


def problems_of(job: ImportJob, kind: str) -> QuerySet[ImportProblem]:
    """A job's bad lines or warnings in line order (importproblem_job_idx serves it)."""
    return ImportProblem.objects.filter(job=job, kind=kind).order_by("line", "id")
