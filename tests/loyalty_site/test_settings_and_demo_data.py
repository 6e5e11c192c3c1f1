"""Production settings refuse to start without a secret key, pass check --deploy, and never load demo data."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from customers.models import Customer
from rewards.calendar import add_months
from rewards.local_time import current_month
from rewards.models import PointsEntry, Reward
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
    assert "demo account 'demo-manager' password: " in out
    assert "demo account 'demo-staff' password: " in out
    assert set(Reward.objects.values_list("points_cost", flat=True)) == {50, 100, 150}
    customers, transactions, entries = (
        Customer.objects.count(),
        Transaction.objects.count(),
        PointsEntry.objects.count(),
    )
    assert customers == 25 and transactions > 25 and entries == transactions
    first = add_months(current_month(), -3)
    months = {timezone.localdate(t.occurred_at).replace(day=1) for t in Transaction.objects.all()}
    assert min(months) >= first and max(months) < current_month()
    call_command("load_demo_data", "--if-empty")
    assert "keeping them" in capsys.readouterr().out
    assert (Customer.objects.count(), Transaction.objects.count()) == (customers, transactions)
