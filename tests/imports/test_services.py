"""An uploaded file is kept with its job, imported once by the worker with the command's importer (all or
nothing), its outcome kept and audited, and its file dropped; lost tasks and dead workers are looked after."""

import datetime as dt
import hashlib
import time

import pytest
from django.db import IntegrityError
from django.db.models import Sum
from django.utils import timezone

from audit.models import AuditEvent
from customers.models import Customer
from imports import progress, services
from imports.models import ImportFileChunk, ImportJob
from imports.tasks import look_after_import_jobs
from rewards.models import PointsEntry
from tests.imports.conftest import BAD_ROWS, GOOD_ROWS, HEADER
from transactions.importing import ImportProgress
from transactions.models import Transaction

pytestmark = pytest.mark.django_db


def test_a_good_file_is_imported_and_its_outcome_kept_and_audited(uploaded, manager):
    job = uploaded()
    assert job.status == "imported" and job.finished_at is not None
    assert (job.rows_read, job.purchases_written, job.customers_enrolled, job.error_count) == (2, 2, 2, 0)
    assert job.points_awarded == 115 == PointsEntry.objects.aggregate(total=Sum("points"))["total"]
    assert Transaction.objects.count() == 2 and Customer.objects.count() == 2
    assert job.file_sha256 == hashlib.sha256((HEADER + GOOD_ROWS).encode()).hexdigest()
    assert not ImportFileChunk.objects.exists()  # the file is not kept once imported
    [record] = AuditEvent.objects.filter(event="import")
    assert record.actor == manager
    assert record.additional_data == {
        "file": "sales.csv", "source": "upload", "job": job.pk, "size": job.file_size, "sha256": job.file_sha256,
        "outcome": "imported", "rows_read": 2, "purchases_written": 2, "refunds_written": 0,
        "duplicates_skipped": 0, "customers_enrolled": 2, "points_awarded": 115,
    }  # fmt: skip


def test_a_file_with_a_bad_line_writes_nothing_and_keeps_every_bad_line(uploaded):
    job = uploaded(BAD_ROWS + "C4,,R4,5.00,2999-01-01,,,\n")
    assert job.status == "refused"
    assert (job.rows_read, job.error_count) == (4, 2)
    assert [(p.kind, p.line) for p in job.problems.all()] == [("error", 3), ("error", 5)]
    assert "7x.00" in job.problems.first().reason
    assert not Transaction.objects.exists() and not Customer.objects.exists() and not PointsEntry.objects.exists()
    assert AuditEvent.objects.get(event="import").additional_data["outcome"] == "refused: 2 bad rows, nothing written"


def test_a_dry_run_reports_and_writes_nothing(uploaded):
    job = uploaded(dry_run=True)
    assert (job.status, job.purchases_written, job.points_awarded) == ("checked", 2, 115)
    assert not Transaction.objects.exists()
    assert AuditEvent.objects.get(event="import").additional_data["outcome"] == "dry run: nothing written"


def test_the_same_file_twice_earns_once(uploaded):
    uploaded()
    again = uploaded()
    assert (again.status, again.duplicates_skipped, again.purchases_written) == ("imported", 2, 0)
    assert Transaction.objects.count() == 2


def test_warnings_are_kept_beside_an_import(uploaded):
    uploaded()
    job = uploaded("C1,Ann Leigh,R9,10.00,2025-03-01,,,\n")
    assert (job.status, job.warning_count) == ("imported", 1)
    assert job.problems.get().kind == "warning"


def test_a_file_of_many_chunks_is_put_back_together(uploaded, monkeypatch):
    monkeypatch.setattr(services, "CHUNK_BYTES", 16)
    rows = "".join(f"C{n},,R{n},{50 + n}.00,2025-01-{1 + n % 28:02d},,,\n" for n in range(60))
    job = uploaded(rows, run=False)
    assert job.chunks.count() == len((HEADER + rows).encode()) // 16 + 1
    services.run_import(job.pk)
    job.refresh_from_db()
    assert (job.status, job.rows_read, job.purchases_written) == ("imported", 60, 60)


def test_a_job_is_imported_once_whoever_asks_again(uploaded):
    job = uploaded()
    assert services.run_import(job.pk) is None
    assert Transaction.objects.count() == 2 and AuditEvent.objects.filter(event="import").count() == 1


def test_an_import_that_meets_a_concurrent_writer_stops_and_says_so(uploaded, monkeypatch):
    def clash(*args, **kwargs):
        raise IntegrityError("duplicate key value violates unique constraint")

    monkeypatch.setattr(services, "import_transactions", clash)
    job = uploaded()
    assert job.status == "failed" and job.failure == services.DATABASE_CHANGED
    assert not ImportFileChunk.objects.exists()
    assert AuditEvent.objects.get(event="import").additional_data["outcome"].startswith("failed: Someone recorded")


def test_an_unexpected_error_stops_the_import_and_never_leaves_it_running(uploaded, monkeypatch, caplog):
    monkeypatch.setattr(services, "import_transactions", lambda *a, **k: 1 / 0)
    job = uploaded()
    assert job.status == "failed" and job.failure == services.UNEXPECTED
    assert "ZeroDivisionError" in caplog.text


def test_a_job_whose_task_was_lost_is_enqueued_again(uploaded, django_capture_on_commit_callbacks):
    job = uploaded(run=False)  # the task never reached the queue
    assert look_after_import_jobs.call_local() == {"enqueued_again": 0, "stalled": 0}  # too soon to tell
    ImportJob.objects.filter(pk=job.pk).update(uploaded_at=timezone.now() - dt.timedelta(minutes=6))
    with django_capture_on_commit_callbacks(execute=True):
        assert look_after_import_jobs.call_local() == {"enqueued_again": 1, "stalled": 0}
    job.refresh_from_db()
    assert job.status == "imported"


def test_an_import_whose_worker_died_is_marked_stopped_and_one_with_a_heartbeat_is_left(uploaded, monkeypatch):
    dead, alive = uploaded(run=False), uploaded(run=False)
    long_ago = timezone.now() - dt.timedelta(minutes=30)
    ImportJob.objects.filter(pk__in=[dead.pk, alive.pk]).update(status="running", started_at=long_ago)
    progress.Reporter(alive.pk, alive.file_size).publish()  # its worker's heartbeat
    assert look_after_import_jobs.call_local() == {"enqueued_again": 0, "stalled": 1}
    dead.refresh_from_db()
    alive.refresh_from_db()
    assert (dead.status, dead.failure) == ("failed", services.WORKER_STOPPED)
    assert alive.status == "running"
    assert not dead.chunks.exists() and alive.chunks.exists()


def test_progress_is_published_while_an_import_runs_and_removed_after(uploaded, monkeypatch):
    seen = []
    real_import = services.import_transactions

    def import_and_look(source, *, dry_run, progress):
        progress(ImportProgress(rows_read=1, bytes_read=10, bytes_total=100, elapsed=0.1))
        seen.append(services.progress.read(job_id))
        return real_import(source, dry_run=dry_run, progress=progress)

    monkeypatch.setattr(services, "import_transactions", import_and_look)
    job = uploaded(run=False)
    job_id = job.pk
    services.run_import(job.pk)
    [snapshot] = seen
    assert snapshot.rows_read == 1 and snapshot.bytes_total == job.file_size
    assert time.time() - snapshot.updated < 60
    assert progress.read(job.pk) is None


def test_the_reader_reports_bytes_as_the_importer_reads_them(tmp_path, monkeypatch):
    monkeypatch.setattr(progress, "PUBLISH_EVERY_SECONDS", 0)
    path = tmp_path / "file.csv"
    path.write_bytes(b"x" * 1000)
    with path.open("rb") as stream, progress.Reporter(42, 1000) as reporter:
        reader = reporter.reader(stream)
        assert reader.read(400) == b"x" * 400
        assert progress.read(42).fraction == 0.4
        assert reader.fileno() == stream.fileno()  # the importer can still learn the size
    assert progress.read(42) is None
