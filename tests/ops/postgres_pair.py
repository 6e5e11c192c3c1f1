"""A PostgreSQL primary and its streaming replica on 127.0.0.1, made for a test and torn down after it.

The primary is a new cluster (initdb) in a folder of its own on a free port, which allows replication from
127.0.0.1 (initdb's pg_hba.conf does, with trust); the replica is `pg_basebackup -R` of it (a hot standby
streaming from it) on another free port. PostgreSQL's programs refuse to run as root: as root they run as
the `postgres` account (runuser). Nothing of the machine's own cluster is touched.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

PROGRAMS = ("initdb", "pg_ctl", "pg_basebackup")
# util-linux's runuser, in /usr/sbin: not on every PATH (a CI's environment, a cron job).
RUNUSER = shutil.which("runuser") or shutil.which("runuser", path="/usr/sbin:/sbin")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def postgres_programs() -> Path | None:
    """The folder of initdb, pg_ctl and pg_basebackup: PG_BIN, or Debian's /usr/lib/postgresql/15/bin (any
    other version there will do); None when they are not installed."""
    candidates = [Path(os.environ["PG_BIN"])] if os.environ.get("PG_BIN") else []
    candidates += [Path("/usr/lib/postgresql/15/bin")]
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for folder in candidates:
        if all(os.access(folder / program, os.X_OK) for program in PROGRAMS):
            return folder
    return None


def why_not() -> str | None:
    """Why a pair cannot be made on this machine, or None."""
    if postgres_programs() is None:
        return "PostgreSQL's server programs (initdb, pg_ctl, pg_basebackup) are not installed"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root with no postgres account to run PostgreSQL's programs as"
        if RUNUSER is None:
            return "running as root without runuser to run PostgreSQL's programs as postgres"
    return None


@dataclass
class Pair:
    folder: Path
    primary_port: int
    replica_port: int
    database: str = "loyalty"

    def url(self, port: int, database: str | None = None) -> str:
        return f"postgres://postgres@127.0.0.1:{port}/{database or self.database}"

    @property
    def primary_url(self) -> str:
        return self.url(self.primary_port)

    @property
    def replica_url(self) -> str:
        return self.url(self.replica_port)

    def connect(self, port: int, database: str | None = None) -> psycopg.Connection:
        return psycopg.connect(
            host="127.0.0.1", port=port, user="postgres", dbname=database or self.database, autocommit=True
        )

    def primary(self) -> psycopg.Connection:
        return self.connect(self.primary_port)

    def replica(self) -> psycopg.Connection:
        return self.connect(self.replica_port)

    def one(self, port: int, sql: str, params=(), database: str | None = None):
        with self.connect(port, database) as connection:
            row = connection.execute(sql, params).fetchone()
        return row[0] if row else None

    def caught_up(self) -> bool:
        """Whether the replica has replayed everything the primary has written so far."""
        written = self.one(self.primary_port, "SELECT pg_current_wal_lsn()::text", database="postgres")
        replayed = "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn"
        return bool(self.one(self.replica_port, replayed, (written,), database="postgres"))

    def wait_caught_up(self, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while not self.caught_up():
            assert time.monotonic() < deadline, f"the replica replays the primary's writes within {seconds} s"
            time.sleep(0.05)

    def log_size(self, name: str) -> int:
        return (self.folder / f"{name}.log").stat().st_size

    def statements_during(self, action) -> tuple[object, str, str]:
        """What `action()` returned, and what the primary's and the replica's logs gained while it ran: the
        statements each server was sent (log_statement = 'all')."""
        sizes = {name: self.log_size(name) for name in ("primary", "replica")}
        result = action()
        gained = []
        for name, size in sizes.items():
            with (self.folder / f"{name}.log").open("rb") as log:
                log.seek(size)
                gained.append(log.read().decode("utf-8", "replace"))
        return result, gained[0], gained[1]

    def pause_replay(self) -> None:
        self.one(self.replica_port, "SELECT pg_wal_replay_pause()", database="postgres")

    def resume_replay(self) -> None:
        self.one(self.replica_port, "SELECT pg_wal_replay_resume()", database="postgres")


def _as_postgres(command: list[str]) -> list[str]:
    return [RUNUSER, "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def _run(command: list[str], folder: Path, timeout: int = 120) -> None:
    result = subprocess.run(_as_postgres(command), cwd=folder, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")


# A test cluster: loopback only, a socket in its own folder, no waiting on the disk (nothing needs to survive a
# crash), small; replication from 127.0.0.1 with initdb's defaults (wal_level replica, 10 WAL senders). With
# log_statements, every statement is written to the server's log (primary.log, replica.log): tests read which
# server ran a page's.
PRIMARY_SETTINGS = """
log_statement = '{log_statement}'
listen_addresses = '127.0.0.1'
unix_socket_directories = '{folder}'
port = {port}
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = {shared_buffers}
max_connections = 40
"""


def start_pair(*, log_statements: bool = True, shared_buffers: str = "32MB") -> Pair:
    """initdb a primary, start it, pg_basebackup a replica from it and start that; both answering on return."""
    programs = postgres_programs()
    assert programs is not None, why_not()
    folder = Path(tempfile.mkdtemp(prefix="loyalty-replica-"))
    if os.geteuid() == 0:
        account = pwd.getpwnam("postgres")
        os.chown(folder, account.pw_uid, account.pw_gid)
    folder.chmod(0o700)
    pair = Pair(folder=folder, primary_port=free_port(), replica_port=free_port())
    primary, replica = folder / "primary", folder / "replica"
    try:
        _run([str(programs / "initdb"), "-D", str(primary), "-U", "postgres", "--auth=trust", "-E", "UTF8",
              "--locale=C", "--no-sync"], folder)  # fmt: skip
        with (primary / "postgresql.conf").open("a") as conf:
            conf.write(
                PRIMARY_SETTINGS.format(
                    folder=folder,
                    port=pair.primary_port,
                    log_statement="all" if log_statements else "none",
                    shared_buffers=shared_buffers,
                )
            )
        _run([str(programs / "pg_ctl"), "-D", str(primary), "-l", str(folder / "primary.log"), "-w", "-t", "60",
              "start"], folder)  # fmt: skip
        _run([str(programs / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(pair.primary_port), "-U", "postgres",
              "-D", str(replica), "-R", "-X", "stream", "-c", "fast", "--no-sync"], folder)  # fmt: skip
        # The same settings but the port; -R wrote primary_conninfo and standby.signal: a hot standby.
        with (replica / "postgresql.conf").open("a") as conf:
            conf.write(f"port = {pair.replica_port}\n")
        _run([str(programs / "pg_ctl"), "-D", str(replica), "-l", str(folder / "replica.log"), "-w", "-t", "60",
              "start"], folder)  # fmt: skip
        with pair.connect(pair.primary_port, "postgres") as connection:
            connection.execute(f"CREATE DATABASE {pair.database}")
        pair.wait_caught_up()
    except BaseException:
        stop_pair(pair)
        raise
    return pair


def stop_pair(pair: Pair) -> None:
    programs = postgres_programs()
    for name in ("replica", "primary"):
        if (pair.folder / name / "postmaster.pid").exists():
            subprocess.run(
                _as_postgres([str(programs / "pg_ctl"), "-D", str(pair.folder / name), "-m", "immediate", "stop"]),
                cwd=pair.folder,
                capture_output=True,
                timeout=60,
            )
    shutil.rmtree(pair.folder, ignore_errors=True)
