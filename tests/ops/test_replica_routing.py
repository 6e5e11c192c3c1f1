"""Which reads may go to the replica, decided without one (tests/ops/test_replica.py has the real pair): the
router, the mark on views, the fallback to the primary, the pin after a post, the settings, and the list of
views that read the replica."""

import time

import psycopg
import pytest
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, IntegrityError, InternalError, OperationalError, transaction
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import resolve

from api.views import PointsReportView, PurchasesView
from customers.models import Customer
from loyalty_site.settings.base import replica_database
from ops import replica
from ops.replica import (
    PIN_COOKIE,
    REPLICA,
    PrimaryAfterWriteMiddleware,
    ReplicaRouter,
    reading_from_replica,
    reads_from_replica,
    replica_failure,
    replica_reads,
)

from .conftest import PRODUCTION, manage

ROUTER = ReplicaRouter()
factory = RequestFactory()


@pytest.fixture
def with_replica(monkeypatch):
    """As if DATABASE_REPLICA_URL were set and the replica answered."""
    monkeypatch.setattr(replica, "replica_configured", lambda: True)
    monkeypatch.setattr(replica, "_replica_answers", lambda: True)


def models_by_label():
    return {f"{model._meta.app_label}.{model.__name__}": model for model in apps.get_models()}


REPORTED = ("customers.Customer", "transactions.Transaction", "rewards.PointsEntry", "rewards.CustomerMonthPoints")
SIGN_IN_STATE = (
    "auth.User",
    "auth.Group",
    "auth.Permission",
    "sessions.Session",
    "contenttypes.ContentType",
    "axes.AccessAttempt",
    "otp_totp.TOTPDevice",
    "accounts.Account",
    "api.ApiKey",
    "audit.AuditEvent",
)


def test_reads_go_to_the_replica_only_inside_a_marked_block_and_never_the_sign_in_state(with_replica):
    models = models_by_label()
    assert {ROUTER.db_for_read(models[label]) for label in REPORTED + SIGN_IN_STATE} == {DEFAULT_DB_ALIAS}
    with replica_reads() as on_replica:
        assert on_replica and reading_from_replica()
        assert {label: ROUTER.db_for_read(models[label]) for label in REPORTED} == dict.fromkeys(REPORTED, REPLICA)
        assert {ROUTER.db_for_read(models[label]) for label in SIGN_IN_STATE} == {DEFAULT_DB_ALIAS}
        # Every write goes to the primary, inside the block too.
        assert {ROUTER.db_for_write(model) for model in models.values()} == {DEFAULT_DB_ALIAS}
    assert not reading_from_replica()
    assert ROUTER.db_for_read(models["customers.Customer"]) == DEFAULT_DB_ALIAS


@pytest.mark.django_db(transaction=True)
def test_inside_a_transaction_on_the_primary_every_read_is_the_primarys(with_replica):
    with replica_reads():
        assert ROUTER.db_for_read(Customer) == REPLICA
        with transaction.atomic():
            assert ROUTER.db_for_read(Customer) == DEFAULT_DB_ALIAS
        assert ROUTER.db_for_read(Customer) == REPLICA


def test_migrations_run_on_the_primary_only():
    assert ROUTER.allow_migrate(DEFAULT_DB_ALIAS, "customers") is True
    assert ROUTER.allow_migrate(REPLICA, "customers") is False


def test_without_a_replica_nothing_reads_one():
    seen = []

    @reads_from_replica
    def view(request):
        seen.append(reading_from_replica())
        return HttpResponse("ok")

    assert view(factory.get("/")).status_code == 200
    with replica_reads() as on_replica:
        assert not on_replica
    assert seen == [False]


def _recording_view(*failures):
    """A view that records whether it read the replica, raising the given errors on its first runs."""
    runs = []
    pending = list(failures)

    @reads_from_replica
    def view(request):
        runs.append(reading_from_replica())
        if pending:
            raise pending.pop(0)
        return HttpResponse("figures")

    return view, runs


def test_a_marked_view_reads_the_replica(with_replica):
    view, runs = _recording_view()
    assert view(factory.get("/reports/")).content == b"figures"
    assert runs == [True]


def test_a_browser_that_posted_in_the_last_seconds_reads_the_primary(with_replica, settings):
    settings.DATABASE_REPLICA_PIN_SECONDS = 15
    view, runs = _recording_view()
    for posted, expected in (
        (time.time() - 1, False),
        (time.time() - 60, True),
        ("not a moment", True),
    ):
        request = factory.get("/reports/")
        request.COOKIES[PIN_COOKIE] = str(posted)
        view(request)
        assert runs[-1] is expected


def _read_only_error() -> InternalError:
    try:
        raise InternalError("cannot execute UPDATE in a read-only transaction") from (
            psycopg.errors.ReadOnlySqlTransaction("cannot execute UPDATE in a read-only transaction")
        )
    except InternalError as error:
        return error


class Connection:
    """A connection as the fallback sees it: whether Django marked an error on it during the request."""

    def __init__(self, errors_occurred: bool):
        self.errors_occurred = errors_occurred


@pytest.mark.parametrize(
    ("failure", "replica_marked"),
    [
        (OperationalError("server closed the connection unexpectedly"), True),
        (OperationalError("canceling statement due to conflict with recovery"), True),
        (_read_only_error(), False),
    ],
    ids=["replica-gone", "conflict-with-recovery", "write-refused"],
)
def test_a_replica_failure_is_answered_from_the_primary_with_a_log_line(
    with_replica, monkeypatch, failure, replica_marked, caplog
):
    monkeypatch.setattr(replica, "connections", {REPLICA: Connection(errors_occurred=replica_marked)})
    view, runs = _recording_view(failure)
    response = view(factory.get("/reports/points/"))
    assert (response.status_code, response.content) == (200, b"figures")
    assert runs == [True, False]
    assert "replica_read_failed: /reports/points/ answered again from the primary" in caplog.text


def test_other_database_errors_are_not_hidden(with_replica, monkeypatch):
    monkeypatch.setattr(replica, "connections", {REPLICA: Connection(errors_occurred=False)})
    assert not replica_failure(IntegrityError("duplicate key value"))
    assert not replica_failure(InternalError("something else"))
    # The primary's own failure (its connection lost, the replica's fine): raised, not run again.
    assert not replica_failure(OperationalError("server closed the connection unexpectedly"))
    for error in (IntegrityError("duplicate key value"), OperationalError("the primary is gone")):
        view, runs = _recording_view(error)
        with pytest.raises(type(error)):
            view(factory.get("/reports/"))
        assert runs == [True]


def test_an_unreachable_replica_is_read_around(monkeypatch, caplog):
    monkeypatch.setattr(replica, "replica_configured", lambda: True)

    class Unreachable:
        def ensure_connection(self):
            raise OperationalError('connection to server at "10.0.0.3", port 5432 failed: Connection refused')

    monkeypatch.setattr(replica, "connections", {REPLICA: Unreachable()})
    view, runs = _recording_view()
    assert view(factory.get("/reports/")).status_code == 200
    assert runs == [False]
    assert "replica_unreachable: reading from the primary" in caplog.text


def test_a_post_pins_the_browser_to_the_primary_for_a_few_seconds(with_replica, settings):
    settings.DATABASE_REPLICA_PIN_SECONDS = 15
    middleware = PrimaryAfterWriteMiddleware(lambda request: HttpResponse("ok"))
    before = int(time.time())
    posted = middleware(factory.post("/till/"))
    cookie = posted.cookies[PIN_COOKIE]
    assert before <= int(cookie.value) <= time.time()
    assert (cookie["max-age"], cookie["httponly"], cookie["samesite"]) == (15, True, "Lax")
    assert PIN_COOKIE not in middleware(factory.get("/reports/")).cookies
    settings.DATABASE_REPLICA_PIN_SECONDS = 0
    assert PIN_COOKIE not in middleware(factory.post("/till/")).cookies


def test_without_a_replica_a_post_sets_no_cookie():
    middleware = PrimaryAfterWriteMiddleware(lambda request: HttpResponse("ok"))
    assert PIN_COOKIE not in middleware(factory.post("/till/")).cookies


# The pages that only read (reports, exports, the simulator) and those that must read their own writes.
READ_FROM_REPLICA = (
    "/reports/",
    "/reports/points/",
    "/reports/customers/1/",
    "/reports/feedback/",
    "/accounting/",
    "/accounting/breakage/",
    "/accounting/ageing/",
    "/program/simulate/",
    "/customers/list/",
)
READ_FROM_PRIMARY = (
    "/till/",
    "/customers/1/",
    "/customers/",
    "/transactions/1/",
    "/accounting/close/",
    "/accounting/point-value/",
    "/accounting/breakage/estimate/",
    "/program/",
    "/audit/",
    "/accounts/login/",
    "/card/",
)


@pytest.mark.parametrize("path", READ_FROM_REPLICA)
def test_reports_exports_and_the_simulator_are_marked_for_the_replica(path):
    assert getattr(resolve(path).func, "reads_from_replica", False), path


@pytest.mark.parametrize("path", READ_FROM_PRIMARY)
def test_the_till_and_pages_that_show_what_was_just_written_are_not(path):
    assert not getattr(resolve(path).func, "reads_from_replica", False), path


def test_the_apis_points_report_is_marked_and_its_writes_are_not():
    assert getattr(PointsReportView.get, "reads_from_replica", False)
    assert not getattr(PurchasesView.post, "reads_from_replica", False)


def test_the_replica_setting_takes_a_postgresql_replica_of_a_postgresql_primary():
    primary = {"ENGINE": "django.db.backends.postgresql", "CONN_MAX_AGE": 60}
    parsed = replica_database("postgres://loyalty:secret@10.0.0.3:5432/loyalty", primary)
    assert (parsed["HOST"], parsed["PORT"], parsed["NAME"], parsed["USER"]) == ("10.0.0.3", 5432, "loyalty", "loyalty")
    assert (parsed["CONN_MAX_AGE"], parsed["ATOMIC_REQUESTS"], parsed["OPTIONS"]) == (60, False, {"connect_timeout": 5})
    timed = replica_database("postgres://loyalty@10.0.0.3/loyalty?connect_timeout=2", primary)
    assert timed["OPTIONS"]["connect_timeout"] == 2
    for url, of in (("sqlite:////tmp/replica.sqlite3", primary), ("postgres://10.0.0.3/loyalty", {"ENGINE": "x"})):
        with pytest.raises(ImproperlyConfigured, match="DATABASE_REPLICA_URL names a PostgreSQL streaming replica"):
            replica_database(url, of)


SHOW = (
    "from django.conf import settings; "
    "print(sorted(settings.DATABASES), settings.DATABASE_ROUTERS, settings.DATABASES.get('replica', {}).get('HOST'), "
    "settings.DATABASES.get('replica', {}).get('CONN_MAX_AGE'))"
)


def test_production_adds_the_replica_and_its_router_only_when_asked():
    primary = "postgres://loyalty@127.0.0.1:5432/loyalty"
    variables = {**PRODUCTION, "DJANGO_SETTINGS_MODULE": "loyalty_site.settings.production", "DATABASE_URL": primary}
    without = manage("shell", "-c", SHOW, **variables)
    assert without.returncode == 0, without.stderr
    assert without.stdout.split("\n")[-2] == "['default'] [] None None"
    with_one = manage("shell", "-c", SHOW, DATABASE_REPLICA_URL="postgres://loyalty@10.0.0.3:5432/loyalty", **variables)
    assert with_one.returncode == 0, with_one.stderr
    assert with_one.stdout.split("\n")[-2] == "['default', 'replica'] ['ops.replica.ReplicaRouter'] 10.0.0.3 60"
