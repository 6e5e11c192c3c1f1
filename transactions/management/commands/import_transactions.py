"""`manage.py import_transactions PATH [--dry-run]`: a thin wrapper around transactions.importing."""

from __future__ import annotations

import os

from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError

import audit
from audit.services import command_line_user
from transactions import import_outcome
from transactions.importing import ImportProgress, ImportResult, import_transactions

# The progress line appears only once an import has run this long (short files print just the summary).
PROGRESS_AFTER_SECONDS = 2.0
# Warnings (a name in the file that differs from the enrolled one) do not stop an import: show a few.
WARNINGS_SHOWN = 20


class Command(BaseCommand):
    help = (
        "Import purchases and refunds from a CSV file (customer_id, transaction_id, amount, occurred_at; "
        "optional customer_name, store, kind, refund_of). All or nothing: a bad row writes nothing."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", help="CSV file, UTF-8 (a BOM is allowed), with a header row")
        parser.add_argument("--dry-run", action="store_true", help="check everything and report; write nothing")
        parser.add_argument(
            "--batch-size", type=int, default=5000, help="rows staged per batch, and per progress update (default 5000)"
        )

    def handle(self, *args, path: str, dry_run: bool, batch_size: int, **options) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        show_progress = self.stderr.isatty()
        try:
            result = import_transactions(
                path, dry_run=dry_run, batch_size=batch_size, progress=self.progress if show_progress else None
            )
        except FileNotFoundError:
            raise CommandError(f"no such file: {path}") from None
        except IsADirectoryError:
            raise CommandError(f"{path} is a directory, not a file") from None
        except IntegrityError as exc:
            # Someone else wrote the same receipt or member number while the import ran: all was rolled back.
            self.record(path, outcome="failed: the database changed while importing; nothing written")
            raise CommandError(
                f"the database changed while importing ({exc}); nothing was written: run the import again"
            ) from None
        finally:
            if show_progress:
                self.stderr.write("\r\033[K", ending="")
        for warning in result.warnings[:WARNINGS_SHOWN]:
            self.stderr.write(f"warning: {warning}")
        if result.warning_count > WARNINGS_SHOWN:
            self.stderr.write(f"… and {result.warning_count - WARNINGS_SHOWN} more warnings")
        self.record(path, result)
        if not result.ok:
            for error in result.errors:
                self.stderr.write(str(error))
            if result.error_count > len(result.errors):
                self.stderr.write(f"… and {result.error_count - len(result.errors)} more bad rows")
            raise CommandError(
                f"{result.error_count} bad row{'s' if result.error_count != 1 else ''} "
                f"in {result.rows_read} rows read: nothing was written.",
                returncode=1,
            )
        self.stdout.write(self.summary(result))

    @staticmethod
    def record(path: str, result: ImportResult | None = None, *, outcome: str = "") -> None:
        """The import in the audit trail: which file, how many rows, and what came of it."""
        detail = {"file": os.path.abspath(path), "outcome": outcome}
        if result is not None:
            detail.update(import_outcome.audit_detail(result))
        audit.record(audit.Event.IMPORT, username=command_line_user(), detail=detail)

    def progress(self, update: ImportProgress) -> None:
        if update.elapsed < PROGRESS_AFTER_SECONDS:
            return
        rate = update.rows_read / update.elapsed
        line = f"{update.rows_read:,} rows · {rate:,.0f} rows/s"
        if update.stage:  # the file is read: checking, matching, earning, writing
            line += f" · {update.stage}"
        elif update.bytes_total and update.bytes_read:
            done = min(update.bytes_read / update.bytes_total, 1.0)
            left = update.elapsed * (1 - done) / done if done else 0
            line += f" · {done:.0%} · about {left:,.0f} s left"
        self.stderr.write(f"\r\033[K{line}", ending="")
        self.stderr.flush()

    @staticmethod
    def summary(result: ImportResult) -> str:
        figures = import_outcome.figures(result)
        lines = ["Dry run: nothing was written. The import would give:" if result.dry_run else "Import complete:"]
        lines += [f"  {label + ':':<20}{value:>12,}" for label, value in figures]
        lines[-1] += f"  ({result.points_earned:,} earned, {result.points_reversed:,} reversed by refunds"
        lines[-1] += f", {result.points_bonus:,} enrolment bonuses)" if result.points_bonus else ")"
        if result.warning_count:
            lines.append(f"  {'warnings:':<20}{result.warning_count:>12,}")
        return "\n".join(lines)
