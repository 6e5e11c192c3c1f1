"""Production settings refuse to start without a secret key, pass check --deploy, and never load demo data."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.utils import timezone

from customers.models import Customer
from loyalty_site.access import is_owner
from rewards.calendar import add_months
from rewards.local_time import current_month
from rewards.models import AdjustmentRequest, PointsEntry, ProgramDraft, Redemption, Reward, RuleVersion, Tier
from transactions.models import Transaction

ROOT = Path(__file__).resolve().parents[2]


def _manage(*args, **env):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    environment.update({"DJANGO_SETTINGS_MODULE": "loyalty_site.settings.production", **env})
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )


PRODUCTION = {"DJANGO_SECRET_KEY": "x" * 60 + "-production-like-key", "DJANGO_ALLOWED_HOSTS": "loyalty.example.com"}


def test_production_refuses_to_start_without_a_secret_key():
    result = _manage("check", DJANGO_ALLOWED_HOSTS="loyalty.example.com")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_production_refuses_to_start_with_an_empty_secret_key():
    result = _manage("check", DJANGO_SECRET_KEY="", DJANGO_ALLOWED_HOSTS="loyalty.example.com")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr and "empty" in result.stderr


def test_production_with_mail_needs_a_sender_address():
    result = _manage("check", EMAIL_URL="smtp+tls://user:secret@mail.example.com:587", **PRODUCTION)
    assert result.returncode != 0
    assert "DEFAULT_FROM_EMAIL" in result.stderr


def test_session_two_factor_lockout_and_mail_settings_come_from_the_environment():
    environment = {
        "LOYALTY_SESSION_IDLE_MINUTES": "5",
        "DJANGO_SESSION_EXPIRE_AT_BROWSER_CLOSE": "false",
        "LOYALTY_REQUIRE_2FA": "true",
        "LOYALTY_SIGN_IN_FAILURE_LIMIT": "7",
        "LOYALTY_SIGN_IN_LOCKOUT_MINUTES": "45",
        "LOYALTY_PROXY_COUNT": "1",
        "EMAIL_URL": "smtp+tls://user:secret@mail.example.com:587",
        "DEFAULT_FROM_EMAIL": "loyalty@shop.example",
        **PRODUCTION,
    }
    names = [
        "LOYALTY_SESSION_IDLE_MINUTES",
        "SESSION_EXPIRE_AT_BROWSER_CLOSE",
        "SESSION_COOKIE_AGE",
        "LOYALTY_REQUIRE_2FA",
        "AXES_FAILURE_LIMIT",
        "AXES_COOLOFF_TIME",
        "AXES_IPWARE_PROXY_COUNT",
        "EMAIL_BACKEND",
        "EMAIL_HOST",
        "EMAIL_PORT",
        "EMAIL_USE_TLS",
        "DEFAULT_FROM_EMAIL",
        "LOYALTY_PASSWORD_RESET_BY_MAIL",
    ]
    script = f"from django.conf import settings; print([str(getattr(settings, n)) for n in {names!r}])"
    result = _manage("shell", "-c", script, **environment)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == str(
        [
            "5",
            "False",
            "600",
            "True",
            "7",
            "0:45:00",
            "1",
            "django.core.mail.backends.smtp.EmailBackend",
            "mail.example.com",
            "587",
            "True",
            "loyalty@shop.example",
            "True",
        ]
    )


def test_production_settings_pass_check_deploy_with_no_warnings():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_demo_data_never_loads_with_production_settings(tmp_path):
    database = f"sqlite:///{tmp_path / 'prod.sqlite3'}"
    assert _manage("migrate", "--noinput", DATABASE_URL=database, **PRODUCTION).returncode == 0
    result = _manage("load_demo_data", "--if-empty", DATABASE_URL=database, **PRODUCTION)
    assert result.returncode != 0
    assert "never loaded" in result.stderr
    count = _manage(
        "shell",
        "-c",
        "from customers.models import Customer; print(Customer.objects.count())",
        DATABASE_URL=database,
        **PRODUCTION,
    )
    assert count.stdout.strip().splitlines()[-1] == "0"


@pytest.mark.django_db
def test_demo_data_is_refused_when_not_allowed(settings):
    settings.DEMO_DATA_ALLOWED = False
    with pytest.raises(CommandError, match="never loaded"):
        call_command("load_demo_data", "--if-empty")
    assert not Customer.objects.exists()


@pytest.mark.django_db
def test_demo_data_loads_three_months_ending_last_month_and_a_second_run_keeps_it(capsys):
    call_command("load_demo_data", "--if-empty", "--customers", "25")
    out = capsys.readouterr().out
    assert "demo account 'demo-owner' password: " in out
    assert "demo account 'demo-manager' password: " in out
    assert "demo account 'demo-staff' password: " in out
    assert re.search(r"demo member .+'s card: http://testserver/card/open/\S+/", out)
    assert set(Reward.objects.values_list("points_cost", flat=True)) == {50, 100, 150}
    customers, transactions = Customer.objects.count(), Transaction.objects.count()
    redemptions = Redemption.objects.count()
    assert customers == 25 and transactions > 25 and redemptions > 0
    # Every purchase earned and every refund reversed, as at the till; the welcome bonus for every member who
    # joined since the program gave one.
    assert PointsEntry.objects.filter(kind__in=["earn", "reversal"]).count() == transactions
    bonus_since = RuleVersion.objects.latest().effective_from
    welcomed = Customer.objects.filter(date_joined__gte=bonus_since).count()
    assert 0 < welcomed == PointsEntry.objects.filter(kind="bonus", bonus_key="enrolment").count()
    # The liability roll-forward of the demo data is proved from the ledger.
    call_command("check_liability")
    assert "Proved: the roll-up equals the ledger" in capsys.readouterr().out
    first = add_months(current_month(), -3)
    months = {timezone.localdate(t.occurred_at).replace(day=1) for t in Transaction.objects.all()}
    assert min(months) >= first and max(months) < current_month()
    demo_owner, demo_staff = (get_user_model().objects.get(username=name) for name in ("demo-owner", "demo-staff"))
    assert is_owner(demo_owner) and demo_owner.is_staff
    assert not demo_staff.is_staff  # the till is their tool, not the admin
    # Recorded at the till by the demo staff (now and then the manager), never "— (Admin)".
    assert set(Transaction.objects.values_list("source", flat=True)) == {"till"}
    recorders = set(Transaction.objects.values_list("recorded_by__username", flat=True))
    assert "demo-staff" in recorders and recorders <= {"demo-staff", "demo-manager"}
    # Something real on every page: a promotion in force, tiers, a draft to simulate, an adjustment to approve.
    assert PointsEntry.objects.filter(kind="earn", facts__has_key="context").exists()
    assert Tier.objects.count() == 2 and ProgramDraft.objects.exists()
    assert AdjustmentRequest.objects.filter(status="pending").exists()
    call_command("load_demo_data", "--if-empty")
    assert "keeping them" in capsys.readouterr().out
    assert (Customer.objects.count(), Transaction.objects.count()) == (customers, transactions)
