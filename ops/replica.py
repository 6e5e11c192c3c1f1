"""Reads off the primary: a PostgreSQL streaming replica (`DATABASE_REPLICA_URL`) for what only reads.

With `DATABASE_REPLICA_URL` set, settings add the database alias `replica` and the `ReplicaRouter`. Nothing
reads the replica by accident: a read goes there only inside a block marked replica-safe, a view decorated with
`@reads_from_replica` (the managers' reports, the accounting reports, exports, the simulator) or a command's
`with replica_reads():`. Everywhere else (the till, the API's writes and its balances, every page that shows
what was just written) reads the primary, as without a replica. Even inside a marked block:

- every write goes to the primary (`db_for_write`), so a report's audit record of an export, a sign-in's
  session and django-axes's counts are written where they always are;
- the sign-in state (accounts, groups, permissions, sessions, axes, two-factor devices, API keys, the audit
  trail) is read from the primary: a password changed or a key revoked a moment ago counts at once;
- inside a transaction on the primary (`transaction.atomic()`) every read is the primary's: a write's own
  checks must see what the transaction sees;
- a browser that posted a form in the last DATABASE_REPLICA_PIN_SECONDS reads the primary (a cookie set by
  `PrimaryAfterWriteMiddleware`): a manager who saves something and opens a report sees it there.

A replica that cannot be reached, or that cancels a query (a conflict with recovery), costs a log line, not
the page: the view runs again on the primary. A replica is seconds behind at worst in normal running, so a
report may not yet show a purchase recorded that very moment (README: "Read replica").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import wraps

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, InternalError, OperationalError, connections
from django.http import HttpRequest, HttpResponse

logger = logging.getLogger(__name__)

PRIMARY = DEFAULT_DB_ALIAS
REPLICA = "replica"

# The sign-in state and the trail of who did what: read where they are written, always. Django's own apps
# (users, groups, permissions, sessions, content types, the admin's log), django-axes, django-otp's devices,
# the staff accounts, the API's keys and idempotency records, the audit trail.
PRIMARY_ONLY_APPS = frozenset(
    {"admin", "auth", "contenttypes", "sessions", "axes", "otp_totp", "accounts", "api", "audit", "auditlog"}
)

# The cookie that keeps a browser on the primary for a few seconds after it posted a form: its value is the
# moment (Unix seconds) of the post. A forged one only sends that browser's reads to the primary.
PIN_COOKIE = "loyalty_primary"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# SQLSTATE 25006: "cannot execute INSERT in a read-only transaction", what a hot standby answers to a write.
READ_ONLY_TRANSACTION = "25006"

_replica_safe: ContextVar[bool] = ContextVar("loyalty_replica_safe", default=False)


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


def reading_from_replica() -> bool:
    """Whether reads in this thread (or task) may go to the replica right now."""
    return _replica_safe.get()


class ReplicaRouter:
    """Installed by the settings only with a replica. Writes and migrations: the primary, always. Reads: the
    replica inside a block marked replica-safe, for the models outside PRIMARY_ONLY_APPS, outside any
    transaction on the primary; the primary otherwise."""

    def db_for_read(self, model, **hints) -> str:
        if (
            _replica_safe.get()
            and model._meta.app_label not in PRIMARY_ONLY_APPS
            and not connections[PRIMARY].in_atomic_block
        ):
            return REPLICA
        return PRIMARY

    def db_for_write(self, model, **hints) -> str:
        return PRIMARY

    def allow_relation(self, obj1, obj2, **hints) -> bool:
        # Two copies of one database: a row read from the replica may point at one read from the primary.
        return True

    def allow_migrate(self, db: str, app_label: str, **hints) -> bool:
        # The replica is a copy of the primary's files: its tables come from the primary's migrations.
        return db == PRIMARY


def _replica_answers() -> bool:
    try:
        connections[REPLICA].ensure_connection()
    except OperationalError as error:
        logger.warning("replica_unreachable: reading from the primary (%s)", str(error).strip())
        return False
    return True


@contextmanager
def replica_reads() -> Iterator[bool]:
    """Reads in the block go to the replica (models outside PRIMARY_ONLY_APPS, outside transactions), when one
    is configured and answers; yields whether they do."""
    if _replica_safe.get():
        yield True
        return
    if not replica_configured() or not _replica_answers():
        yield False
        return
    token = _replica_safe.set(True)
    try:
        yield True
    finally:
        _replica_safe.reset(token)


def pinned_to_primary(request: HttpRequest) -> bool:
    """Whether this browser posted a form in the last DATABASE_REPLICA_PIN_SECONDS."""
    try:
        posted = float(request.COOKIES.get(PIN_COOKIE, ""))
    except ValueError:
        return False
    return 0 <= time.time() - posted < settings.DATABASE_REPLICA_PIN_SECONDS


def replica_failure(error: DatabaseError) -> bool:
    """Whether the error is the replica's, answered by reading the primary instead: a write reached it (a
    read-only transaction, which only a standby refuses), or an operational error on its connection (it is
    down or restarting, the connection was lost, or it cancelled the query for a conflict with recovery).
    Django marks a connection on which such an error occurred, until the next request checks it; the same
    error on the primary's connection is not the replica's and is raised as it would be without one."""
    if isinstance(error, InternalError):
        return getattr(error.__cause__, "sqlstate", None) == READ_ONLY_TRANSACTION
    return isinstance(error, OperationalError) and connections[REPLICA].errors_occurred


def reads_from_replica(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Marks a view whose reads may come from the replica: it only reads (its writes, such as the audit record
    of an export, go to the primary as always) and may show figures seconds old. The view must render its
    response before returning (`render`, an export's response), not lazily (a TemplateResponse), so that its
    queries run inside the mark. For a class's method: `method_decorator(reads_from_replica, name="get")`."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not replica_configured() or pinned_to_primary(request):
            return view(request, *args, **kwargs)
        with replica_reads() as on_replica:
            if on_replica:
                try:
                    return view(request, *args, **kwargs)
                except DatabaseError as error:
                    if not replica_failure(error):
                        raise
                    logger.error(
                        "replica_read_failed: %s answered again from the primary (%s: %s)",
                        request.path,
                        type(error).__name__,
                        str(error).strip(),
                    )
        return view(request, *args, **kwargs)

    wrapped.reads_from_replica = True
    return wrapped


class PrimaryAfterWriteMiddleware:
    """After a browser posts a form, its reads stay on the primary for DATABASE_REPLICA_PIN_SECONDS: the
    report it opens next shows what it just saved, even if the replica has not replayed it yet. Without a
    replica it does nothing."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        seconds = settings.DATABASE_REPLICA_PIN_SECONDS
        if request.method in UNSAFE_METHODS and seconds > 0 and replica_configured():
            response.set_cookie(
                PIN_COOKIE,
                str(int(time.time())),
                max_age=seconds,
                secure=settings.SESSION_COOKIE_SECURE,
                httponly=True,
                samesite="Lax",
            )
        return response


# How far the replica is behind: 0 when it has replayed everything it received; otherwise the age of the last
# transaction it replayed (on an idle primary that age grows though nothing is missing, hence the first test).
LAG_SQL = """
    SELECT CASE
        WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
        ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0)
    END
"""


def replica_lag_seconds() -> float:
    """The replica's replay lag in seconds, read on the replica (for the metric loyalty_replica_lag_seconds)."""
    with connections[REPLICA].cursor() as cursor:
        cursor.execute(LAG_SQL)
        (lag,) = cursor.fetchone()
    return float(lag)
