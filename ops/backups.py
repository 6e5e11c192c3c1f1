"""Backups of the PostgreSQL database: pg_dump's custom format, restored by pg_restore into a new database,
then proven by the checks in CHECKS_AFTER_RESTORE.

The connection comes from the settings (DATABASE_URL), handed to pg_dump and pg_restore through libpq's
environment variables, so a password never appears on a command line. The task queue's tables (huey_*) are
in the dump with their jobs by default: jobs waiting at the time of the backup run again after a restore, and
every job is idempotent. `with_queue=False` keeps the tables but not their jobs: for a copy restored
elsewhere (a test machine), which must not send the production site's webhooks or mail.
"""

import os
import shutil
import subprocess
from pathlib import Path

from django.core.management import call_command
from django.db import connection

QUEUE_TABLES = "huey_*"

# What proves a restored database sound: management commands, each exiting non-zero on a fault, run in this
# order by `manage.py restore_database` once the restore is done (and worth running by hand after any restore).
CHECKS_AFTER_RESTORE: list[tuple[str, ...]] = [
    ("check_points_rollup",),
    # The accountants' books: the liability roll-up equals the ledger, each month closes on the members'
    # balances, and closed months still give the figures they were closed with.
    ("check_liability",),
]


class BackupError(Exception):
    pass


def _require_postgresql() -> None:
    if connection.vendor != "postgresql":
        raise BackupError(
            "Backups here are for PostgreSQL (DATABASE_URL=postgres://...). An SQLite database is one file: stop "
            "the site and copy it, or run: sqlite3 db.sqlite3 \".backup 'copy.sqlite3'\"."
        )
    for program in ("pg_dump", "pg_restore"):
        if shutil.which(program) is None:
            raise BackupError(f"{program} is not installed: apt-get install postgresql-client.")


def _libpq_environment() -> dict[str, str]:
    database = connection.settings_dict
    variables = {
        "PGHOST": database.get("HOST") or "",
        "PGPORT": str(database.get("PORT") or ""),
        "PGUSER": database.get("USER") or "",
        "PGPASSWORD": database.get("PASSWORD") or "",
        "PGDATABASE": database["NAME"],
        "PGSSLMODE": database.get("OPTIONS", {}).get("sslmode", ""),
    }
    return {**os.environ, **{name: value for name, value in variables.items() if value}}


def _run(arguments: list[str]) -> None:
    result = subprocess.run(arguments, env=_libpq_environment(), capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise BackupError(f"{arguments[0]} failed (exit status {result.returncode}): {result.stderr.strip()}")


def backup(path: Path, *, with_queue: bool = True) -> int:
    """Dump the database to `path` (custom format); returns its size in bytes. Written beside it first and
    renamed when complete, so a failed dump never leaves a file that looks like a backup. Readable by its
    owner only: it holds every customer and every password hash."""
    return dump(path, [] if with_queue else ["--exclude-table-data", QUEUE_TABLES])


def dump(path: Path, options: list[str]) -> int:
    """pg_dump (custom format, with `options`: which tables) to `path`, as `backup` writes it: beside it first,
    renamed when complete, readable by its owner only. Returns its size in bytes."""
    _require_postgresql()
    partial = path.with_name(path.name + ".partial")
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    try:
        _run(["pg_dump", "--format=custom", "--file", str(partial), *options])
    except BackupError:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(path)
    return path.stat().st_size


def tables() -> list[str]:
    with connection.cursor() as cursor:
        return sorted(connection.introspection.table_names(cursor))


def restore(path: Path) -> None:
    """Restore a dump into the configured database, which must be new and empty (createdb): all or nothing,
    in one transaction, stopping at the first error. Owners and grants are those of the restoring user."""
    _require_postgresql()
    if not path.is_file():
        raise BackupError(f"{path}: no such file.")
    existing = tables()
    if existing:
        raise BackupError(
            f"The database {connection.settings_dict['NAME']!r} already has {len(existing)} tables: restore into a "
            f"new, empty database (createdb NAME, then DATABASE_URL=postgres://.../NAME). Nothing was changed."
        )
    _run(
        [
            "pg_restore",
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--single-transaction",
            "--dbname",
            connection.settings_dict["NAME"],
            str(path),
        ]
    )


def check_restored(stdout, stderr) -> None:
    """Run every check in CHECKS_AFTER_RESTORE; the first that fails raises its CommandError."""
    for command in CHECKS_AFTER_RESTORE:
        call_command(*command, stdout=stdout, stderr=stderr)
