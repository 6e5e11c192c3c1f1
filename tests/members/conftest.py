"""Shared helpers of the members' tests: reading links out of the test mail outbox, joining, signing in."""

import re

import pytest
from django.core import mail
from django.db import connection, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

LINK = re.compile(r"http://testserver(/[^\s\"<>]+)")


def links_in(message, prefix: str = "") -> list[str]:
    """The site paths a mail's text links to (LOYALTY_SITE_URL is http://testserver in tests)."""
    return [path for path in LINK.findall(message.body) if path.startswith(prefix)]


def last_mail_to(address: str):
    sent = [message for message in mail.outbox if address in message.to]
    assert sent, f"no mail to {address}: {[m.subject for m in mail.outbox]}"
    return sent[-1]


JOIN = {"name": "Nadia Novak", "email": "nadia@example.com", "phone": "", "birthday": "", "ref": ""}


@pytest.fixture
def join(client):
    """Join through the form and confirm through the mailed link; returns the client, signed in as the member."""

    def _join(**fields):
        data = {**JOIN, **fields}
        response = client.post("/join/", data)
        assert response.status_code == 302, response.content.decode()[:2000]
        confirm = links_in(last_mail_to(data["email"]), "/join/confirm/")[0]
        response = client.post(confirm)
        assert response.status_code == 302 and response["Location"] == "/card/"
        return client

    return _join


def _only_test_atomics() -> bool:
    return all(getattr(block, "_from_testcase", False) for block in connection.atomic_blocks)


@pytest.fixture(autouse=True)
def commits_as_in_production(monkeypatch):
    """Inside a test's transaction, run on-commit callbacks when the application's own transaction ends, as
    production's autocommit does: the outbox's events reach their subscribers and the queued member emails
    go out while the test goes on (huey runs tasks at once in tests)."""
    register = BaseDatabaseWrapper.on_commit
    leave = transaction.Atomic.__exit__

    def on_commit(self, func, robust=False):
        if self.in_atomic_block and _only_test_atomics():
            func()
        else:
            register(self, func, robust)

    def exit_atomic(self, exc_type, exc_value, traceback):
        result = leave(self, exc_type, exc_value, traceback)
        if connection.in_atomic_block and _only_test_atomics() and connection.run_on_commit:
            pending, connection.run_on_commit = connection.run_on_commit, []
            for _savepoints, func, _robust in pending:
                func()
        return result

    monkeypatch.setattr(BaseDatabaseWrapper, "on_commit", on_commit)
    monkeypatch.setattr(transaction.Atomic, "__exit__", exit_atomic)
