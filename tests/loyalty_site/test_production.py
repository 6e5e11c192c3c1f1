"""Production like production: the health check, the Content-Security-Policy, and gunicorn refusing to start
without a secret key. gunicorn serving the site as deployed: tests/ops/test_deploy.py."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import DatabaseError
from django.db.migrations.executor import MigrationExecutor

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_health_needs_no_sign_in_and_says_only_that_the_database_answers_and_is_migrated(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "migrations": "applied"}
    assert response["Cache-Control"].startswith("max-age=0")
    assert client.head("/healthz").status_code == 200


@pytest.mark.django_db
def test_health_is_503_while_a_migration_is_pending(client, monkeypatch):
    monkeypatch.setattr(MigrationExecutor, "migration_plan", lambda self, targets: [("rewards", "9999_pending")])
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "ok", "migrations": "pending"}


@pytest.mark.django_db
def test_health_is_503_when_the_database_does_not_answer(client, monkeypatch):
    def unreachable(self, targets):
        raise DatabaseError("connection refused")

    monkeypatch.setattr(MigrationExecutor, "migration_plan", unreachable)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "unreachable"}


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/accounts/login/", "/healthz"])
def test_every_answer_carries_a_content_security_policy_without_inline_script_or_style(client, url):
    policy = client.get(url)["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


def test_no_template_carries_an_inline_script_style_or_event_handler():
    offenders = []
    for template in ROOT.glob("*/templates/**/*.html"):
        if ".venv" in template.parts:
            continue
        text = template.read_text()
        for needle in (
            "<script>",
            "<script ",
            "<style",
            " style=",
            " onclick=",
            " onchange=",
            " onsubmit=",
            " onload=",
        ):
            for line in text.splitlines():
                if needle in line and not (needle == "<script " and " src=" in line):
                    offenders.append(f"{template.relative_to(ROOT)}: {line.strip()}")
    assert offenders == []


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_gunicorn_refuses_to_start_with_an_empty_secret_key():
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    environment.update(
        DJANGO_SECRET_KEY="",
        DJANGO_ALLOWED_HOSTS="loyalty.example.com",
        DJANGO_SETTINGS_MODULE="loyalty_site.settings.production",
        GUNICORN_BIND=f"127.0.0.1:{_free_port()}",
        WEB_CONCURRENCY="1",
    )
    gunicorn = Path(sys.executable).with_name("gunicorn")
    result = subprocess.run(
        [str(gunicorn), "--config", str(ROOT / "deploy" / "gunicorn.conf.py"), "loyalty_site.wsgi:application"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr
