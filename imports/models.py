"""Transaction files uploaded in the browser and imported by the background worker.

The file is kept in the database (ImportFileChunk, 1 MiB each) from the upload until its import finishes:
every web and worker process, on any machine, already shares the database, while the configured file
storage is the local disk here and in the README's production set-up, which a worker on another machine
cannot read. The file and its job are written in one transaction (no job without its file, no orphaned
file), the upload limit bounds its size, and the chunks are deleted when the import finishes (the job keeps
the name, size and SHA-256, as does the audit trail).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class ImportJob(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Waiting for the worker"
        RUNNING = "running", "Importing"
        IMPORTED = "imported", "Imported"
        CHECKED = "checked", "Checked (dry run)"
        REFUSED = "refused", "Refused: bad lines"
        FAILED = "failed", "Stopped"

    FINISHED = (Status.IMPORTED, Status.CHECKED, Status.REFUSED, Status.FAILED)

    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(default=timezone.now)
    file_name = models.CharField(max_length=255)
    file_size = models.BigIntegerField()
    file_sha256 = models.CharField("SHA-256", max_length=64, blank=True)
    dry_run = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The importer's result (transactions.importing.ImportResult), once finished.
    rows_read = models.BigIntegerField(default=0)
    purchases_written = models.BigIntegerField(default=0)
    refunds_written = models.BigIntegerField(default=0)
    duplicates_skipped = models.BigIntegerField(default=0)
    customers_enrolled = models.BigIntegerField(default=0)
    points_earned = models.BigIntegerField(default=0)
    points_reversed = models.BigIntegerField(default=0)
    points_bonus = models.BigIntegerField(default=0)
    error_count = models.BigIntegerField(default=0)
    warning_count = models.BigIntegerField(default=0)
    # Why a job stopped without a result (the worker died, the database changed meanwhile).
    failure = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            # The periodic check: jobs still waiting or running.
            models.Index(
                fields=["status"], condition=models.Q(status__in=["queued", "running"]), name="importjob_open_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"import {self.pk}: {self.file_name}"

    @property
    def finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def points_awarded(self) -> int:
        return self.points_earned + self.points_reversed + self.points_bonus


class ImportFileChunk(models.Model):
    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="chunks")
    number = models.PositiveIntegerField()
    data = models.BinaryField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "number"], name="importfilechunk_one_per_number")]

    def __str__(self) -> str:
        return f"chunk {self.number} of import {self.job_id}"


class ImportProblem(models.Model):
    """A bad line (error: nothing is written) or a warning (written anyway), as the importer said it."""

    class Kind(models.TextChoices):
        ERROR = "error", "Error"
        WARNING = "warning", "Warning"

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="problems")
    kind = models.CharField(max_length=7, choices=Kind.choices)
    line = models.PositiveIntegerField()
    reason = models.TextField()

    class Meta:
        ordering = ["kind", "line", "id"]
        indexes = [models.Index(fields=["job", "kind", "line"], name="importproblem_job_idx")]

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"
