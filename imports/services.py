"""Imports from the browser: check an upload, keep it as a job, import it on the worker, look after jobs.

    check_upload(upload)                       # ValidationError: too large, not a CSV (beside the field)
    job = start_import(upload=..., dry_run=False, uploaded_by=manager)   # the worker takes it after the commit
    run_import(job.pk)                         # on the worker (tasks.import_uploaded_file)

The import itself is `transactions.importing.import_transactions`, exactly as `manage.py import_transactions`
runs it: all or nothing, every bad line reported, re-imports skip what is stored. Each outcome (and each
refused upload) is recorded in the audit trail with the file, the rows and the outcome.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import tempfile
import time

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone

import audit
from transactions import import_outcome
from transactions.importing import ImportResult, import_transactions

from . import progress
from .models import ImportFileChunk, ImportJob, ImportProblem

logger = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
# What is read of an upload to tell whether it is CSV text.
SNIFF_BYTES = 64 * 1024
# A queued job not taken by then had its task lost (the queue was down when it was enqueued): enqueue again.
LOST_AFTER = dt.timedelta(minutes=5)
# A running job without a heartbeat for this long lost its worker (stopped, killed, machine gone).
STALLED_AFTER = dt.timedelta(minutes=10)

DATABASE_CHANGED = (
    "Someone recorded a transaction or enrolled a customer with the same receipt or member number while this "
    "file was importing, so the import stopped. Nothing was written: upload the file again."
)
WORKER_STOPPED = "The worker stopped while importing this file. Nothing was written: upload the file again."
UNEXPECTED = (
    "The import stopped on an unexpected error (it is in the worker's log). Nothing was written: upload the "
    "file again, and tell whoever runs this site if it happens again."
)


def _megabytes(size: int) -> str:
    # Rounded up: a file over the limit never reads as the limit itself.
    return f"{math.ceil(size * 10 / (1024 * 1024)) / 10:,.1f} MB"


def max_upload_bytes() -> int:
    return settings.LOYALTY_IMPORT_MAX_UPLOAD_MB * 1024 * 1024


def check_upload(upload: UploadedFile) -> None:
    """Refuse at once what cannot be a transaction file: too large, empty, not CSV text."""
    name = upload.name or "The file"
    limit = max_upload_bytes()
    if upload.size > limit:
        raise ValidationError(
            f"{name} is {_megabytes(upload.size)}: the largest file accepted here is "
            f"{settings.LOYALTY_IMPORT_MAX_UPLOAD_MB:,} MB. Split it into smaller files (each is imported all or "
            "nothing), or import it with manage.py import_transactions.",
            code="too_large",
        )
    if not upload.size:
        raise ValidationError(f"{name} is empty.", code="empty")
    if not name.lower().endswith(".csv"):
        raise ValidationError(
            f"{name} is not a CSV file: export the transactions as CSV UTF-8 (comma-separated values) and upload that.",
            code="not_csv",
        )
    upload.seek(0)
    head = upload.read(SNIFF_BYTES)
    upload.seek(0)
    if head.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        raise ValidationError(
            f"{name} is a spreadsheet workbook, not a CSV file: open it and save it as “CSV UTF-8 "
            "(comma-separated)”, then upload that.",
            code="not_csv",
        )
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ValidationError(f"{name} is UTF-16 text: save it as “CSV UTF-8”, then upload it again.", code="not_csv")
    if b"\x00" in head:
        raise ValidationError(f"{name} is not text (it holds binary data): is it really a CSV file?", code="not_csv")
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        # The sample may end inside a character; a bad byte before that is not UTF-8.
        if error.start < len(head) - 3 or len(head) < SNIFF_BYTES:
            line = head[: error.start].count(b"\n") + 1
            raise ValidationError(
                f"{name} is not UTF-8 text (line {line} is not): save it as “CSV UTF-8”, then upload it again.",
                code="not_csv",
            ) from None
        text = head[: error.start].decode("utf-8-sig")
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    if "," not in first_line:
        raise ValidationError(
            f"{name} has no commas in its first line, so it is not comma-separated values: its first line must "
            "name the columns (customer_id,transaction_id,amount,occurred_at,…).",
            code="not_csv",
        )


def record_refused_upload(upload: UploadedFile, reasons: list[str], *, uploaded_by) -> None:
    audit.record(
        audit.Event.IMPORT,
        actor=uploaded_by,
        detail={
            "file": upload.name,
            "source": "upload",
            "size": upload.size,
            "outcome": "refused at upload: " + " ".join(reasons),
        },
    )


@transaction.atomic
def start_import(*, upload: UploadedFile, dry_run: bool, uploaded_by) -> ImportJob:
    """Keep the (checked) upload as a job and its file; the worker imports it once this commits."""
    job = ImportJob.objects.create(
        uploaded_by=uploaded_by, file_name=upload.name[:255], file_size=upload.size, dry_run=dry_run
    )
    digest = hashlib.sha256()
    upload.seek(0)
    # Read in chunks of our size (an in-memory upload's chunks() would hand over the whole file at once).
    for number, data in enumerate(iter(lambda: upload.read(CHUNK_BYTES), b"")):
        digest.update(data)
        ImportFileChunk.objects.create(job=job, number=number, data=data)
    job.file_sha256 = digest.hexdigest()
    job.save(update_fields=["file_sha256"])
    _enqueue_after_commit(job.pk)
    return job


def run_import(job_id: int) -> ImportJob | None:
    """Import a queued job's file (once: a second call, or a second worker, finds it taken and does nothing)."""
    if not ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.QUEUED).update(
        status=ImportJob.Status.RUNNING, started_at=timezone.now()
    ):
        return None
    job = ImportJob.objects.get(pk=job_id)
    try:
        with tempfile.TemporaryFile() as spool, progress.Reporter(job.pk, job.file_size) as reporter:
            # The file, chunk by chunk, to a local temporary file: memory stays flat whatever its size.
            for chunk_id in job.chunks.order_by("number").values_list("pk", flat=True):
                spool.write(ImportFileChunk.objects.values_list("data", flat=True).get(pk=chunk_id))
            spool.seek(0)
            result = import_transactions(reporter.reader(spool), dry_run=job.dry_run, progress=reporter.rows)
    except IntegrityError:
        # Another writer took a receipt or member number the import was writing: all of it rolled back.
        return _finish(job, status=ImportJob.Status.FAILED, failure=DATABASE_CHANGED)
    except Exception:
        logger.exception("import job %s stopped", job.pk)
        return _finish(job, status=ImportJob.Status.FAILED, failure=UNEXPECTED)
    if not result.ok:
        status = ImportJob.Status.REFUSED
    else:
        status = ImportJob.Status.CHECKED if result.dry_run else ImportJob.Status.IMPORTED
    return _finish(job, status=status, result=result)


@transaction.atomic
def _finish(job: ImportJob, *, status: str, result: ImportResult | None = None, failure: str = "") -> ImportJob:
    """The outcome, whatever state the job was left in meanwhile (the periodic check may have given a slow
    import up for lost: what the import did is the truth). The file goes; the audit trail keeps the record."""
    job.status, job.finished_at, job.failure = status, timezone.now(), failure
    fields = ["status", "finished_at", "failure"]
    if result is not None:
        for name in (
            "rows_read", "purchases_written", "refunds_written", "duplicates_skipped", "customers_enrolled",
            "points_earned", "points_reversed", "points_bonus", "error_count", "warning_count",
        ):  # fmt: skip
            setattr(job, name, getattr(result, name))
            fields.append(name)
        job.problems.all().delete()  # a job finished twice (see above) keeps one list
        ImportProblem.objects.bulk_create(
            [ImportProblem(job=job, kind=ImportProblem.Kind.ERROR, line=e.line, reason=e.reason) for e in result.errors]
            + [
                ImportProblem(job=job, kind=ImportProblem.Kind.WARNING, line=w.line, reason=w.reason)
                for w in result.warnings
            ],
            batch_size=1000,
        )
    job.save(update_fields=fields)
    job.chunks.all().delete()
    detail = {
        "file": job.file_name, "source": "upload", "job": job.pk, "size": job.file_size, "sha256": job.file_sha256,
    }  # fmt: skip
    if result is not None:
        detail.update(import_outcome.audit_detail(result))
    else:
        detail["outcome"] = f"failed: {failure}"
    audit.record(audit.Event.IMPORT, actor=job.uploaded_by, target=job, detail=detail)
    return job


def look_after_jobs() -> dict[str, int]:
    """The periodic check: enqueue again what a lost task left waiting; give up on imports whose worker died
    (its transaction rolled back with it: nothing was written)."""
    now = timezone.now()
    lost = list(
        ImportJob.objects.filter(status=ImportJob.Status.QUEUED, uploaded_at__lt=now - LOST_AFTER).values_list(
            "pk", flat=True
        )
    )
    for job_id in lost:
        _enqueue_after_commit(job_id)
    stalled = 0
    for job in ImportJob.objects.filter(status=ImportJob.Status.RUNNING, started_at__lt=now - STALLED_AFTER):
        snapshot = progress.read(job.pk)
        if snapshot is not None and time.time() - snapshot.updated < STALLED_AFTER.total_seconds():
            continue  # alive: its heartbeat is recent
        if ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.RUNNING).exists():
            _finish(job, status=ImportJob.Status.FAILED, failure=WORKER_STOPPED)
            stalled += 1
    return {"enqueued_again": len(lost), "stalled": stalled}


def _enqueue_after_commit(job_id: int) -> None:
    # tasks imports this module: a module-level import would be circular.
    from .tasks import import_uploaded_file

    transaction.on_commit(lambda: import_uploaded_file(job_id))
