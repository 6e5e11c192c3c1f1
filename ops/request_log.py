"""One log line per request, with its request id, the signed-in user or API key, status and duration.

django-structlog's middleware binds a request id to everything logged during the request and writes the
`request_finished` line (or `request_failed`, with the traceback). Here: an incoming `X-Request-ID` is kept
only when it looks like an id (it ends up in every line), the id goes back in the response, the client's
address is the one django-axes and the audit trail count (behind LOYALTY_PROXY_COUNT proxies), and the line
carries the duration and the view.
"""

import re
import time

import structlog
from axes.helpers import get_client_ip_address
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django_structlog import signals
from django_structlog.middlewares import RequestMiddleware

REQUEST_ID_HEADER = "X-Request-ID"
# What a proxy or a client may send as its own id: a UUID, nginx's $request_id (32 hex digits), a POS's
# own reference. Anything else (spaces, control characters, kilobytes) is replaced by a fresh UUID.
ACCEPTED_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


class RequestLogMiddleware(RequestMiddleware):
    def prepare(self, request: HttpRequest) -> None:
        incoming = request.META.get("HTTP_X_REQUEST_ID")
        if incoming is not None and not ACCEPTED_REQUEST_ID.fullmatch(incoming):
            del request.META["HTTP_X_REQUEST_ID"]
            request.__dict__.pop("headers", None)  # HttpRequest.headers is cached from META
        request._log_started = time.monotonic()
        super().prepare(request)


def _request_id(logger) -> str | None:
    return structlog.contextvars.get_merged_contextvars(logger).get("request_id")


def api_key_of(request: HttpRequest) -> str | None:
    """The API key a request was authenticated with, as it names itself in logs. The JSON API's
    authentication sets `request.auth` (Django REST framework copies it onto the Django request) or
    `request.api_key` to the key object; the key's `log_label` (never its secret), else its primary key."""
    key = getattr(request, "api_key", None) or getattr(request, "auth", None)
    if key is None:
        return None
    label = getattr(key, "log_label", None) or getattr(key, "pk", None)
    return None if label is None else str(label)


@receiver(signals.bind_extra_request_metadata)
def _bind_client(request: HttpRequest, logger, log_kwargs: dict, **kwargs) -> None:
    structlog.contextvars.bind_contextvars(ip=get_client_ip_address(request))


def _describe(request: HttpRequest, log_kwargs: dict) -> None:
    started = getattr(request, "_log_started", None)
    if started is not None:
        log_kwargs["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
    match = getattr(request, "resolver_match", None)
    if match is not None:
        log_kwargs["view"] = match.view_name
    api_key = api_key_of(request)
    if api_key is not None:
        log_kwargs["api_key"] = api_key


@receiver(signals.bind_extra_request_finished_metadata)
def _finished(request: HttpRequest, logger, response: HttpResponse, log_kwargs: dict, **kwargs) -> None:
    _describe(request, log_kwargs)
    request_id = _request_id(logger)
    if request_id:
        response[REQUEST_ID_HEADER] = request_id


@receiver(signals.bind_extra_request_failed_metadata)
def _failed(request: HttpRequest, logger, exception: Exception, log_kwargs: dict, **kwargs) -> None:
    _describe(request, log_kwargs)


@receiver(signals.update_failure_response)
def _failure_response(request: HttpRequest, response: HttpResponse, logger, exception: Exception, **kwargs) -> None:
    request_id = _request_id(logger)
    if request_id:
        response[REQUEST_ID_HEADER] = request_id
