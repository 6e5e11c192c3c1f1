"""Configuration helpers the settings call before Django starts: logging and the error reporter.

Nothing here imports a model: settings modules import this file.
"""

import logging
import sys

import sentry_sdk
import structlog
import structlog.tracebacks
from sentry_sdk.integrations.django import DjangoIntegration
from sentry_sdk.integrations.huey import HueyIntegration
from sentry_sdk.integrations.logging import ignore_logger

LOG_FORMATS = ("console", "json")

# What every line gets, whether it comes from structlog (requests, tasks) or from a plain `logging` call
# (Django, huey, our apps): the request id and user bound for the request or task, level, logger, time.
_SHARED = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def configure_structlog(*, cache_loggers: bool = True) -> None:
    """structlog hands its events to the standard library's logging, whose formatter (see `logging_config`)
    renders them as console lines or JSON: one configuration for both kinds of line."""
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_SHARED,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.UnicodeDecoder(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Tests capture events (structlog.testing.capture_logs), which needs loggers built anew each time.
        cache_logger_on_first_use=cache_loggers,
    )
    # Python's warnings (a missing folder, a deprecation) become log lines like the others, not bare text.
    logging.captureWarnings(True)


def logging_config(log_format: str, level: str) -> dict:
    """Django's LOGGING: every line on standard error, as JSON (one object a line, for a log shipper) or as a
    console line for a person. One line per request (django-structlog's `request_finished`, or
    `request_failed` with the traceback) and one per task signal (`ops.worker`)."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"DJANGO_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, not {log_format!r}")
    if log_format == "json":
        # Tracebacks as data, without the frames' local variables (they hold customers, amounts, passwords).
        tracebacks = structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
        renderer = [structlog.processors.ExceptionRenderer(tracebacks), structlog.processors.JSONRenderer()]
    else:
        renderer = [structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())]
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structured": {
                "()": structlog.stdlib.ProcessorFormatter,
                "processors": [structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer],
                "foreign_pre_chain": [*_SHARED, structlog.stdlib.ExtraAdder()],
            }
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Django's own handlers (a second console line in debug) give way to ours; runserver's one line per
            # request (django.server) too, since the request's own line says more.
            "django": {"handlers": [], "level": "INFO", "propagate": True},
            "django.server": {"level": "WARNING"},
            # The worker's own lines once (run_huey adds a handler of its own only to a logger without one).
            # Per task, `ops.worker` writes the structured lines; huey's "Executing ..." lines would repeat
            # them, so only its warnings and errors (a task's traceback) pass. Its consumer's start-up lines stay.
            "huey": {"handlers": ["console"], "level": "WARNING", "propagate": False},
            "huey.consumer": {"handlers": ["console"], "level": "INFO", "propagate": False},
            # django-axes logs every sign-in at INFO; failures and lockouts (WARNING) are what an operator needs.
            "axes": {"level": "WARNING"},
            # "Not Found: /x" and the 500's traceback are already in the request's own line.
            "django.request": {"level": "CRITICAL"},
        },
    }


def init_error_reporting(
    dsn: str,
    *,
    environment: str,
    release: str | None = None,
    traces_sample_rate: float = 0.0,
    send_pii: bool = False,
) -> bool:
    """Sentry's SDK with its Django and huey integrations, when a DSN is given; nothing at all otherwise.

    Without `send_pii` no personal data leaves: no user details, cookies or client address
    (send_default_pii), no request bodies (the till's forms carry customers' names and phones), and no local
    variables of stack frames (they hold customers and amounts)."""
    if not dsn:
        return False
    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release or None,
        integrations=[DjangoIntegration(), HueyIntegration()],
        send_default_pii=send_pii,
        include_local_variables=send_pii,
        max_request_body_size="always" if send_pii else "never",
        traces_sample_rate=traces_sample_rate,
    )
    # The integrations report a failed request or task with its exception; these loggers' error lines about
    # the same failure would be a second event each.
    for logger_name in ("django_structlog.middlewares.request", "ops.worker", "huey"):
        ignore_logger(logger_name)
    return True
