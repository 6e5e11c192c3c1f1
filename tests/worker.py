"""The real background worker in tests: `manage.py run_huey` in a process of its own, on the test database and
a queue of its own (an SQLite file in the test's tmp_path), as the README runs it in production.

The test's own process enqueues into the same queue (its huey leaves immediate mode for the test), so what
the test does (record a purchase, upload a file) reaches the worker as it would from the web server.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.db import connection
from huey.contrib.djhuey import HUEY
from huey.storage import SqliteStorage

from loyalty_site.settings import base

ROOT = Path(__file__).resolve().parents[1]
# The worker runs the local settings, whose queue is named as in base (the name keys the queue's rows).
QUEUE_NAME = base.HUEY["name"]


def test_database_url() -> str:
    """The test database, as DATABASE_URL names it, for another process to open."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class Worker:
    def __init__(self, directory: Path) -> None:
        self.queue = directory / "queue.sqlite3"
        self.log = directory / "worker.log"
        self.process: subprocess.Popen | None = None
        self._saved = (HUEY._immediate, HUEY.storage)
        # From now on this process enqueues into the worker's queue instead of running tasks at once.
        HUEY._immediate = False
        HUEY.storage = SqliteStorage(name=QUEUE_NAME, filename=str(self.queue))

    def environment(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "LOYALTY_"))}
        env.update(
            DJANGO_SETTINGS_MODULE="loyalty_site.settings.local",
            DJANGO_DEBUG="false",
            DJANGO_SECRET_KEY=settings.SECRET_KEY,  # webhook secrets derive from it: the same as this process's
            DATABASE_URL=test_database_url(),
            TASK_QUEUE_URL=f"sqlite:///{self.queue}",
            TIME_ZONE=settings.TIME_ZONE,
            LOYALTY_WEBHOOK_TIMEOUT_SECONDS=str(settings.LOYALTY_WEBHOOK_TIMEOUT_SECONDS),
            LOYALTY_WEBHOOK_ALLOW_PRIVATE_ADDRESSES="true",  # the receiver is on 127.0.0.1
            PYTHONUNBUFFERED="1",
        )
        return env

    def start(self) -> Worker:
        assert self.process is None, "the worker is already running"
        log = self.log.open("a")
        # Periodic jobs off: a test enqueues the periodic task it needs, when it needs it. Polling at most
        # every half second, so an idle worker notices a task at once.
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "run_huey", "--workers", "2", "--no-periodic", "--max-delay", "0.5"],
            cwd=ROOT,
            env=self.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.wait_until(lambda: "consumer started" in self.log.read_text().lower(), what="the worker to start")
        return self

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def close(self) -> None:
        self.stop()
        HUEY.storage.close()
        HUEY._immediate, HUEY.storage = self._saved

    def wait_until(self, condition: Callable[[], bool], *, timeout: float = 30.0, what: str = "the condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = condition()
            if result:
                return result
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"the worker exited ({self.process.returncode}):\n{self.log_tail()}")
            time.sleep(0.1)
        raise AssertionError(f"waited {timeout:g} s for {what}; the worker's log:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text().splitlines()[-lines:]) if self.log.exists() else "(no log)"
