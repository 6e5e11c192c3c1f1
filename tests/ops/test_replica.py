"""Reads off the primary, for real: a PostgreSQL primary and its streaming replica (tests/ops/postgres_pair.py),
the site migrated on the primary and served by gunicorn with DATABASE_URL and DATABASE_REPLICA_URL pointing at
the pair. With the replica's replay paused, a purchase recorded at the till is on the primary at once and
missing from the reports and exports until the replica replays it: they read the replica; the till, and a
browser that has just posted, read the primary; the replica refuses writes and a view that meets a refusal or
an unreachable replica answers from the primary instead of failing.

Skipped on SQLite (the pair is PostgreSQL's) and where PostgreSQL's server programs are missing, unless
REQUIRE_REPLICA=1 (.ci/run), which makes a missing pair a failure.
"""

import csv
import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
import requests
from django.db import connection
from django.utils import timezone

from ops.replica import PIN_COOKIE, REPLICA
from tests.ops.conftest import ROOT, environment, free_port, manage, wait_until
from tests.ops.postgres_pair import start_pair, stop_pair, why_not

PASSWORD = "correct horse battery staple"
PIN_SECONDS = 2


def _reason_to_skip() -> str | None:
    if connection.vendor != "postgresql":
        return "the read replica is PostgreSQL's: these tests run with the PostgreSQL suite"
    return why_not()


@pytest.fixture(scope="module")
def pair():
    reason = _reason_to_skip()
    if reason:
        if os.environ.get("REQUIRE_REPLICA") == "1" and connection.vendor == "postgresql":
            pytest.fail(f"{reason} (required by REQUIRE_REPLICA=1)")
        pytest.skip(reason)
    started = start_pair()
    try:
        yield started
    finally:
        stop_pair(started)


def site_environment(pair, **more: str) -> dict[str, str]:
    return {
        "DJANGO_SETTINGS_MODULE": "loyalty_site.settings.local",
        "DJANGO_DEBUG": "false",
        "DJANGO_LOG_FORMAT": "json",
        "DATABASE_URL": pair.primary_url,
        "DATABASE_REPLICA_URL": pair.replica_url,
        "DATABASE_REPLICA_PIN_SECONDS": str(PIN_SECONDS),
        "TIME_ZONE": "UTC",
        **more,
    }


SET_UP = f"""
import json
from api.keys import create_api_key
from rewards import engine
from rewards.selectors import default_program
from rewards.services.program import save_draft
from tests.factories import CustomerFactory, ManagerFactory, StaffFactory
manager = ManagerFactory(username="manager", password={PASSWORD!r})
ManagerFactory(username="second-manager", password={PASSWORD!r})
StaffFactory(username="cashier", password={PASSWORD!r})
for number in ("R0001", "R0002", "R0003"):
    CustomerFactory(member_number=number, name=f"Replica {{number}}")
save_draft(program=default_program(), rule=engine.CLASSIC_RULE, author=manager)
print(json.dumps({{"api_key": create_api_key(name="Reports", role="manager").secret}}))
"""


@pytest.fixture(scope="module")
def site(pair, tmp_path_factory):
    """The site on the pair: migrated on the primary (the replica gets the tables by replaying), three
    accounts and three members, and gunicorn serving it with the replica configured."""
    variables = site_environment(pair)
    migrated = manage("migrate", "--noinput", timeout=600, **variables)
    assert migrated.returncode == 0, migrated.stderr
    made = manage("shell", "-c", SET_UP, **variables)
    assert made.returncode == 0, made.stderr
    api_key = _last_json(made.stdout)["api_key"]
    folder = tmp_path_factory.mktemp("replica-site")
    port = free_port()
    log = (folder / "gunicorn.log").open("w")
    server = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--timeout",
            "120",
            "loyalty_site.wsgi:application",
        ],
        cwd=ROOT,
        env=environment(**variables),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: server.poll() is not None or _answers(url), seconds=60, what="gunicorn answers")
        assert server.poll() is None, (folder / "gunicorn.log").read_text()
        pair.wait_caught_up()
        yield {"url": url, "log": folder / "gunicorn.log", "variables": variables, "api_key": api_key}
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()


def _answers(url: str) -> bool:
    try:
        requests.get(f"{url}/healthz", timeout=2)
    except requests.RequestException:
        return False
    return True


def _csrf(page: requests.Response) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)


def sign_in(site, username: str) -> requests.Session:
    browser = requests.Session()
    page = browser.get(f"{site['url']}/accounts/login/", timeout=30)
    answer = browser.post(
        f"{site['url']}/accounts/login/",
        data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": _csrf(page)},
        timeout=30,
    )
    assert answer.status_code == 200 and "/accounts/login/" not in answer.url, answer.text[:500]
    return browser


def unpinned(browser: requests.Session) -> requests.Session:
    """The browser once its last post is more than DATABASE_REPLICA_PIN_SECONDS old (it reads the replica)."""
    posted = browser.cookies.get(PIN_COOKIE)
    if posted:
        time.sleep(max(0.0, int(posted) + PIN_SECONDS + 1 - time.time()))
    return browser


def record_at_till(site, browser: requests.Session, member_number: str, amount: str, receipt: str) -> None:
    till = browser.get(f"{site['url']}/till/", timeout=30)
    key = re.search(r'name="idempotency_key" value="([^"]+)"', till.text).group(1)
    answer = browser.post(
        f"{site['url']}/till/",
        data={
            "customer": member_number,
            "amount": amount,
            "receipt_number": receipt,
            "idempotency_key": key,
            "csrfmiddlewaretoken": _csrf(till),
        },
        timeout=30,
    )
    assert answer.status_code == 200 and "recorded=" in answer.url, answer.text[:1000]
    # The till's page after the purchase reads the primary: the purchase is there at once.
    assert receipt in answer.text


def points_of(pair, port: int, member_number: str) -> int | None:
    """The customer's points from purchases, read directly on one database of the pair (None: no customer)."""
    return pair.one(
        port,
        "SELECT COALESCE(SUM(e.points), 0) FROM rewards_pointsentry e JOIN customers_customer c "
        "ON c.id = e.customer_id WHERE c.member_number = %s",
        (member_number,),
    )


def month() -> str:
    return f"{timezone.now():%Y-%m}"


def report_csv(site, browser: requests.Session, member_number: str) -> dict[str, str] | None:
    """The customer's row in the monthly points export of this month (None: not in it)."""
    answer = browser.get(
        f"{site['url']}/reports/points/",
        params={"start": month(), "months": "1", "search": member_number, "_export": "csv"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text[:500]
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    return next((row for row in rows if member_number in row.values()), None)


def report_page(site, browser: requests.Session, member_number: str) -> str:
    answer = browser.get(
        f"{site['url']}/reports/points/", params={"start": month(), "months": "1", "search": member_number}, timeout=30
    )
    assert answer.status_code == 200, answer.text[:500]
    return answer.text


def exports_on(pair, port: int) -> int:
    return pair.one(port, "SELECT COUNT(*) FROM audit_auditevent WHERE event = 'export'")


def lag_metric(site) -> float:
    body = requests.get(f"{site['url']}/metrics", timeout=30).text
    return float(re.search(r"^loyalty_replica_lag_seconds (\S+)$", body, re.MULTILINE).group(1))


def test_reports_and_exports_read_the_replica_and_the_till_the_primary(pair, site):
    manager = unpinned(sign_in(site, "manager"))
    cashier = sign_in(site, "cashier")
    exports_before = exports_on(pair, pair.primary_port)
    pair.pause_replay()
    try:
        record_at_till(site, cashier, "R0001", "120.00", "REPLICA-1")
        # Written on the primary; not yet on the replica, whose replay is paused.
        assert points_of(pair, pair.primary_port, "R0001") == 90
        assert points_of(pair, pair.replica_port, "R0001") == 0
        # The replica receives the purchase's WAL but does not replay it: it falls behind.
        wait_until(lambda: lag_metric(site) > 0, seconds=30, what="the lag metric shows the replica behind")
        # The report, its export and the command line's report read the replica: no R0001 there yet.
        assert "Replica R0001" not in report_page(site, manager, "R0001")
        assert report_csv(site, manager, "R0001") is None
        # The export's audit record (a write inside a view that reads the replica) is on the primary.
        assert exports_on(pair, pair.primary_port) == exports_before + 1
        assert exports_on(pair, pair.replica_port) == exports_before
        command = manage("points_report", "--start", month(), "--months", "1", **site["variables"])
        assert command.returncode == 0, command.stderr
        assert "R0001" not in command.stdout
        # The customer's page (not a report) reads the primary: the balance is there at once.
        pk = pair.one(pair.primary_port, "SELECT id FROM customers_customer WHERE member_number = 'R0001'")
        page = manager.get(f"{site['url']}/customers/{pk}/", timeout=30)
        assert page.status_code == 200
        assert re.search(r"<dd class=\"num\" data-balance>90 points</dd>", page.text)
    finally:
        pair.resume_replay()
    pair.wait_caught_up()
    assert points_of(pair, pair.replica_port, "R0001") == 90
    assert "Replica R0001" in report_page(site, manager, "R0001")
    assert report_csv(site, manager, "R0001")["Total"] == "90"
    command = manage("points_report", "--start", month(), "--months", "1", **site["variables"])
    assert "R0001" in command.stdout
    wait_until(lambda: lag_metric(site) == 0, seconds=30, what="the lag metric back to 0 once replayed")


# Tables of the apps whose rows the reports read; the sign-in state (auth_, django_session, axes_, api_: an API
# key is looked up with its store) and the audit trail are the primary's even inside a report.
REPORTED_TABLES = re.compile(r"^(customers|transactions|rewards|members)_")
# A statement as logged: simple ("statement: ...") or with parameters ("execute <unnamed>: ...").
STATEMENT = re.compile(r"LOG:  (?:statement|execute [^:]*): ")
MAIN_TABLE = re.compile(r'\b(?:FROM|INTO|UPDATE)\s+"?([a-z_0-9]+)"?')


def reported(log: str) -> list[str]:
    """The statements in a server's log that read (or write) a reported table first: the table each names."""
    tables = []
    for statement in STATEMENT.split(log)[1:]:
        main = MAIN_TABLE.search(statement)
        if main and REPORTED_TABLES.match(main.group(1)):
            tables.append(main.group(1))
    return tables


def test_every_report_export_and_the_simulator_query_the_replica_and_nothing_of_theirs_the_primary(pair, site):
    """Each page marked for the replica, from the servers' own statement logs: its queries of the reported
    tables ran on the replica, none on the primary. The till and the customer's page, for contrast, the other
    way round."""
    manager = unpinned(sign_in(site, "manager"))
    pk = pair.one(pair.primary_port, "SELECT id FROM customers_customer WHERE member_number = 'R0003'")
    api = {"Authorization": f"Bearer {site['api_key']}"}
    pages = [
        ("/reports/", {}),
        ("/reports/points/", {}),
        ("/reports/points/?_export=csv", {}),
        ("/reports/points/?_export=xlsx", {}),
        (f"/reports/customers/{pk}/", {}),
        ("/reports/feedback/", {}),
        ("/accounting/", {}),
        ("/accounting/?_export=csv", {}),
        ("/accounting/breakage/", {}),
        ("/accounting/breakage/?_export=xlsx", {}),
        ("/accounting/ageing/", {}),
        ("/accounting/ageing/?_export=csv", {}),
        ("/program/simulate/", {}),
        ("/customers/list/", {}),
        ("/customers/list/?_export=csv", {}),
        ("/api/v1/reports/points", api),
        ("/api/v1/reports/points", {**api, "Accept": "text/csv"}),
    ]
    for path, headers in pages:
        answer, on_primary, on_replica = pair.statements_during(
            lambda path=path, headers=headers: manager.get(f"{site['url']}{path}", headers=headers, timeout=60)
        )
        assert answer.status_code == 200, (path, answer.text[:500])
        assert reported(on_replica), (path, on_replica[-2000:])
        assert not reported(on_primary), (path, reported(on_primary))
    # The simulator's own SQL (a transaction with planner settings, on the replica) ran there.
    _, on_primary, on_replica = pair.statements_during(
        lambda: manager.get(f"{site['url']}/program/simulate/", timeout=60)
    )
    assert "SET LOCAL enable_mergejoin = off" in on_replica
    for path in ("/till/", f"/customers/{pk}/"):
        _, on_primary, on_replica = pair.statements_during(lambda path=path: manager.get(f"{site['url']}{path}"))
        assert reported(on_primary), path
        assert not reported(on_replica), path


def test_a_browser_that_just_posted_reads_the_primary(pair, site):
    """A manager who records a purchase (or saves anything) sees it in the report at once; another manager,
    who posted nothing, sees the replica's figures until it replays the purchase."""
    poster = sign_in(site, "manager")
    other = unpinned(sign_in(site, "second-manager"))
    pair.pause_replay()
    try:
        record_at_till(site, poster, "R0002", "120.00", "REPLICA-2")
        assert poster.cookies.get(PIN_COOKIE)
        assert report_csv(site, poster, "R0002")["Total"] == "90"
        assert report_csv(site, other, "R0002") is None
        # Once the post is older than DATABASE_REPLICA_PIN_SECONDS, the poster reads the replica again.
        assert report_csv(site, unpinned(poster), "R0002") is None
    finally:
        pair.resume_replay()
    pair.wait_caught_up()
    assert report_csv(site, other, "R0002")["Total"] == "90"


def test_the_replica_refuses_writes(pair, site):
    with pair.replica() as replica, pytest.raises(psycopg.errors.ReadOnlySqlTransaction) as refused:
        replica.execute("UPDATE transactions_store SET name = 'Changed on the replica'")
    assert "cannot execute UPDATE in a read-only transaction" in str(refused.value)
    with pair.replica() as replica:
        assert replica.execute("SELECT pg_is_in_recovery(), inet_server_port()").fetchone() == (
            True,
            pair.replica_port,
        )


# A view marked for the replica that writes through whichever database its reads use: on the replica that
# write is refused (a bug the router prevents for the ORM, here done on purpose with raw SQL); the view runs
# again on the primary and answers, with a log line, instead of a 500.
WRITES_WHERE_IT_READS = """
import json
from django.db import connections, router
from django.http import HttpResponse
from django.test import RequestFactory
from ops.replica import reads_from_replica
from transactions.models import Store

used = []

@reads_from_replica
def report(request):
    alias = router.db_for_read(Store)
    used.append(alias)
    with connections[alias].cursor() as cursor:
        cursor.execute("UPDATE transactions_store SET name = name WHERE is_default")
    return HttpResponse(Store.objects.get(is_default=True).code)

response = report(RequestFactory().get("/reports/example/"))
print(json.dumps({"status": response.status_code, "body": response.content.decode(), "used": used}))
"""


def _last_json(text: str) -> dict:
    return json.loads([line for line in text.splitlines() if line.startswith("{")][-1])


def test_a_write_refused_by_the_replica_is_answered_from_the_primary(pair, site):
    result = manage("shell", "-c", WRITES_WHERE_IT_READS, **site["variables"])
    assert result.returncode == 0, result.stderr
    assert _last_json(result.stdout) == {"status": 200, "body": "main", "used": [REPLICA, "default"]}
    assert "replica_read_failed" in result.stderr
    assert "cannot execute UPDATE in a read-only transaction" in result.stderr


# A view marked for the replica whose replica connection is cut halfway through (the replica restarting, or
# cancelling the query for a conflict with recovery, looks the same to Django: an operational error there).
CUT_HALFWAY = """
import json
import psycopg
from django.db import connections, router
from django.http import HttpResponse
from django.test import RequestFactory
from ops.replica import reads_from_replica
from transactions.models import Store

used = []

@reads_from_replica
def report(request):
    alias = router.db_for_read(Store)
    used.append(alias)
    if alias == "replica":
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            (pid,) = cursor.fetchone()
        settings = connections[alias].settings_dict
        with psycopg.connect(host=settings["HOST"], port=settings["PORT"], user="postgres", dbname="postgres",
                             autocommit=True) as other:
            other.execute("SELECT pg_terminate_backend(%s)", [pid])
    return HttpResponse(Store.objects.get(is_default=True).code)

response = report(RequestFactory().get("/reports/example/"))
print(json.dumps({"status": response.status_code, "body": response.content.decode(), "used": used}))
"""


def test_a_replica_connection_lost_halfway_is_answered_from_the_primary(pair, site):
    result = manage("shell", "-c", CUT_HALFWAY, **site["variables"])
    assert result.returncode == 0, result.stderr
    assert _last_json(result.stdout) == {"status": 200, "body": "main", "used": [REPLICA, "default"]}
    assert "replica_read_failed: /reports/example/ answered again from the primary (OperationalError" in result.stderr


def test_an_unreachable_replica_costs_a_log_line_not_the_report(pair, site):
    """Nothing listens on the replica's address: the report, a view marked for the replica, reads the primary."""
    record_at_till(site, sign_in(site, "cashier"), "R0003", "120.00", "REPLICA-3")
    closed = pair.url(free_port())
    variables = {**site["variables"], "DATABASE_REPLICA_URL": closed}
    result = manage("points_report", "--start", month(), "--months", "1", **variables)
    assert result.returncode == 0, result.stderr
    assert "Replica R0003" in result.stdout
    assert "replica_unreachable" in result.stderr
    served = manage("shell", "-c", WRITES_WHERE_IT_READS, **variables)
    assert served.returncode == 0, served.stderr
    assert _last_json(served.stdout) == {"status": 200, "body": "main", "used": ["default"]}
