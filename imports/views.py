"""The import pages (managers): upload a transaction file, follow its import, read the outcome.

Thin: the form checks the upload (imports.services.check_upload), the service keeps it as a job for the
worker; the job page shows progress (static/imports/progress.js polls the status) and then the outcome.
"""

from __future__ import annotations

import csv

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import content_disposition_header

from loyalty_site.access import managers_only
from rewards.exports import neutralise_formula

from . import progress, selectors, services
from .forms import UploadForm
from .models import ImportJob, ImportProblem

PROBLEMS_PER_PAGE = 100
# Warnings do not stop an import: the first ones are shown (as the command shows 20), all are in the report.
WARNINGS_SHOWN = 20


@managers_only
def upload(request: HttpRequest) -> HttpResponse:
    form = UploadForm(request.POST, request.FILES) if request.method == "POST" else UploadForm()
    status = 200
    if request.method == "POST":
        if form.is_valid():
            job = services.start_import(
                upload=form.cleaned_data["file"], dry_run=form.cleaned_data["dry_run"], uploaded_by=request.user
            )
            messages.success(request, f"{job.file_name} is uploaded: the import runs in the background.")
            return redirect("imports:job", pk=job.pk)
        if "file" in request.FILES and form.has_error("file"):
            services.record_refused_upload(request.FILES["file"], form.errors["file"], uploaded_by=request.user)
        status = 400
    return render(request, "imports/upload.html", {"form": form, "jobs": selectors.recent_jobs()}, status=status)


def _progress_text(job: ImportJob, snapshot: progress.Snapshot | None) -> tuple[str, float | None]:
    if job.status == ImportJob.Status.QUEUED:
        return "Waiting for the worker to start the import…", 0.0
    if snapshot is None:
        return "Importing…", None
    fraction = snapshot.fraction
    parts = []
    if fraction is not None:
        parts.append(f"{fraction:.0%} of the file read" if fraction < 1 else "the whole file read, finishing")
    if snapshot.rows_read:
        parts.append(f"{snapshot.rows_read:,} rows checked")
    return ("Importing: " + ", ".join(parts) + "…") if parts else "Importing…", fraction


@managers_only
def job(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(ImportJob.objects.select_related("uploaded_by"), pk=pk)
    context = {"job": job}
    if not job.finished:
        context["progress_text"], context["fraction"] = _progress_text(job, progress.read(job.pk))
    else:
        context["errors"] = Paginator(selectors.problems_of(job, ImportProblem.Kind.ERROR), PROBLEMS_PER_PAGE).get_page(
            request.GET.get("page")
        )
        context["warnings"] = list(selectors.problems_of(job, ImportProblem.Kind.WARNING)[:WARNINGS_SHOWN])
        # The importer keeps the first 10,000 messages of each kind; the page shows the first warnings only.
        context["errors_not_listed"] = job.error_count - context["errors"].paginator.count
        context["warnings_not_listed"] = job.warning_count - len(context["warnings"])
    return render(request, "imports/job.html", context)


@managers_only
def status(request: HttpRequest, pk: int) -> JsonResponse:
    """What the job page's script polls: the status, and progress while it runs."""
    job = get_object_or_404(ImportJob, pk=pk)
    text, fraction = ("", None) if job.finished else _progress_text(job, progress.read(job.pk))
    response = JsonResponse(
        {"status": job.status, "finished": job.finished, "label": job.get_status_display(), "text": text,
         "fraction": fraction}
    )  # fmt: skip
    response["Cache-Control"] = "no-store"
    return response


@managers_only
def error_report(request: HttpRequest, pk: int) -> HttpResponse:
    """Every bad line the importer listed, then the warnings, as CSV (cells neutralised for spreadsheets)."""
    job = get_object_or_404(ImportJob, pk=pk)
    if not job.finished:
        messages.info(request, "The import has not finished yet.")
        return redirect("imports:job", pk=job.pk)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    stem = job.file_name.rsplit(".", 1)[0] or "import"
    response["Content-Disposition"] = content_disposition_header(True, f"{stem}-errors.csv")
    writer = csv.writer(response)
    writer.writerow(["line", "kind", "problem"])
    for problem in job.problems.order_by("kind", "line", "id").iterator():
        writer.writerow([problem.line, problem.kind, neutralise_formula(problem.reason)])
    if job.error_count > job.problems.filter(kind=ImportProblem.Kind.ERROR).count():
        writer.writerow(["", "error", f"… and more bad lines not listed ({job.error_count:,} in all)"])
    return response
