"""`manage.py backup_database PATH [--without-queue]`: a pg_dump of the database (custom format)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ops.backups import BackupError, backup


class Command(BaseCommand):
    help = "Dump the PostgreSQL database to PATH in pg_dump's custom format (restore with restore_database)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", type=Path, help="the file to write, e.g. /var/backups/loyalty/2025-06-01.dump")
        parser.add_argument(
            "--without-queue",
            action="store_true",
            help="keep the task queue's tables but not their waiting jobs (for a copy restored elsewhere)",
        )

    def handle(self, *args, path: Path, without_queue: bool, **options) -> None:
        try:
            size = backup(path, with_queue=not without_queue)
        except BackupError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"Backed up to {path} ({size / 1_000_000:.1f} MB).")
