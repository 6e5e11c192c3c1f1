"""`manage.py restore_database PATH`: restore a backup into a new, empty database, then prove it."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ops.backups import CHECKS_AFTER_RESTORE, BackupError, check_restored, restore


class Command(BaseCommand):
    help = (
        "Restore a backup_database file into the configured database, which must be new and empty, then run "
        "the checks that prove it (" + ", ".join(" ".join(check) for check in CHECKS_AFTER_RESTORE) + ")."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", type=Path, help="a file written by backup_database (or pg_dump --format=custom)")

    def handle(self, *args, path: Path, **options) -> None:
        try:
            restore(path)
        except BackupError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"Restored {path}. Checking it:")
        check_restored(self.stdout, self.stderr)
        self.stdout.write("The restored database passed every check.")
