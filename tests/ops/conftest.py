"""Helpers for the tests of running the site: captured log events, subprocesses on the test database."""

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import structlog
from django.db import connection
from structlog.testing import capture_logs

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {"DJANGO_SECRET_KEY": "x" * 60 + "-production-like-key", "DJANGO_ALLOWED_HOSTS": "loyalty.example.com"}


@pytest.fixture
def logged():
    """Every structlog event logged during the test, with what the request or task bound (request id, user)."""
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as events:
        yield events


def database_url() -> str:
    """The test database as a DATABASE_URL, for a subprocess (a worker, a restore) to reach what the test wrote."""
    database = connection.settings_dict
    credentials = database["USER"] + (f":{database['PASSWORD']}" if database["PASSWORD"] else "")
    return f"postgres://{credentials}@{database['HOST'] or '127.0.0.1'}:{database['PORT'] or 5432}/{database['NAME']}"


def environment(**variables: str) -> dict[str, str]:
    """This process's environment without its Django settings, plus `variables`."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "TASK_", "SENTRY_"))}
    return {**kept, **variables}


def manage(*arguments: str, timeout: int = 120, **variables: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=ROOT,
        env=environment(**variables),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def fetch(url: str, headers: dict | None = None, timeout: float = 5, method: str = "GET") -> tuple[int, dict, bytes]:
    """(status, headers, body) of a request on loopback; an HTTP error status is an answer, not an exception."""
    request = urllib.request.Request(url, headers=headers or {}, method=method)  # noqa: S310 (loopback only)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (loopback only)
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def wait_until(condition, *, seconds: float, what: str, poll: float = 0.1):
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} within {seconds} s"
        time.sleep(poll)
