"""Every error the API answers is `application/problem+json` (RFC 9457): type, title, status, detail, and for
refused values `errors`, one entry per field: `{"pointer": "#/amount", "detail": ...}` for a body member (a
JSON Pointer, as in RFC 9457's own example), `{"parameter": "start", ...}` for a query parameter,
`{"header": "Idempotency-Key", ...}` for a header.

Each problem type is a page of its own (/api/v1/problems/<slug>), so `type` is an absolute URL that a person
can open to read what it means.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from rest_framework import exceptions, status
from rest_framework.views import set_rollback

CONTENT_TYPE = "application/problem+json"


@dataclass(frozen=True)
class ProblemType:
    slug: str
    status: int
    title: str
    meaning: str  # what the type's page says


PROBLEM_TYPES = {
    problem.slug: problem
    for problem in (
        ProblemType(
            "malformed-request",
            400,
            "The request could not be read",
            "The body is not valid JSON (or not UTF-8). Send a JSON object with `Content-Type: application/json`.",
        ),
        ProblemType(
            "unauthorized",
            401,
            "A valid API key is needed",
            "Send `Authorization: Bearer <key>` with a key that has not been revoked. Owners and managers create "
            "keys on the API keys page or with `manage.py create_api_key`.",
        ),
        ProblemType(
            "forbidden",
            403,
            "This key may not do that",
            "The key's role does not allow this resource (reports are for managers' keys), or the key is bound "
            "to one store and the request names another.",
        ),
        ProblemType("not-found", 404, "Not found", "No such resource: check the path and the member number."),
        ProblemType(
            "method-not-allowed",
            405,
            "Method not allowed",
            "The resource does not answer this HTTP method; the `Allow` header lists those it answers.",
        ),
        ProblemType(
            "not-acceptable",
            406,
            "Cannot answer in the format asked for",
            "The `Accept` header asks for a format this resource does not give: JSON everywhere, and CSV "
            "(`Accept: text/csv`) for reports.",
        ),
        ProblemType(
            "unsupported-media-type",
            415,
            "Send JSON",
            "The request body must be JSON, sent with `Content-Type: application/json`.",
        ),
        ProblemType(
            "validation",
            422,
            "Some values were refused",
            "Nothing was recorded. `errors` says what is wrong with each refused value: `pointer` names a "
            "member of the JSON body, `parameter` a query parameter, `header` a header.",
        ),
        ProblemType(
            "idempotency-key-reused",
            422,
            "This Idempotency-Key was used for another request",
            "An `Idempotency-Key` answers one request only: the same key with the same method, path and body "
            "gets the first answer again; with anything else it is refused. Use a new key for a new request.",
        ),
        ProblemType(
            "too-many-requests",
            429,
            "Too many requests",
            "The key made more calls than its rate allows (LOYALTY_API_RATE). Wait for the seconds in "
            "`Retry-After`, then try again.",
        ),
        ProblemType(
            "server-error",
            500,
            "Something went wrong on our side",
            "The request was not carried out. It is safe to retry it with the same `Idempotency-Key`.",
        ),
    )
}


def type_url(slug: str, request: HttpRequest | None) -> str:
    path = reverse("api:problem", args=[slug])
    return request.build_absolute_uri(path) if request is not None else path


def problem_response(
    request: HttpRequest | None,
    slug: str,
    detail: str,
    *,
    errors: list[dict] | None = None,
    status_code: int | None = None,
    headers: dict[str, str] | None = None,
) -> HttpResponse:
    problem = PROBLEM_TYPES[slug]
    body = {
        "type": type_url(slug, request),
        "title": problem.title,
        "status": status_code or problem.status,
        "detail": str(detail),
    }
    if errors:
        body["errors"] = errors
    return HttpResponse(
        json.dumps(body, cls=DjangoJSONEncoder), status=body["status"], content_type=CONTENT_TYPE, headers=headers
    )


# ---------------------------------------------------------------------------------------------------
# Refused values, by where they were sent.


class InvalidParameters(exceptions.ValidationError):
    """Refused query parameters (a serializer's errors, keyed by parameter name)."""

    where = "parameter"


class InvalidHeader(exceptions.ValidationError):
    """A refused header, e.g. an Idempotency-Key of 300 characters."""

    where = "header"

    def __init__(self, header: str, message: str):
        super().__init__({header: [message]})


class IdempotencyKeyReused(exceptions.APIException):
    status_code = 422
    default_detail = PROBLEM_TYPES["idempotency-key-reused"].meaning


def _messages(value) -> list[str]:
    if isinstance(value, dict):
        return [message for inner in value.values() for message in _messages(inner)]
    if isinstance(value, list):
        return [message for inner in value for message in _messages(inner)]
    return [str(value)]


def field_errors(detail, where: str = "pointer", path: tuple[str, ...] = ()) -> list[dict]:
    """DRF's nested error detail as RFC 9457 `errors`: one entry per message, each naming its field."""
    errors: list[dict] = []
    if isinstance(detail, dict):
        for name, value in detail.items():
            if name in ("non_field_errors", NON_FIELD_ERRORS):
                errors += field_errors(value, where, path)
            else:
                errors += field_errors(value, where, (*path, str(name)))
    elif isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            for message in detail:
                errors.append(_entry(where, path, str(message)))
        else:  # a list of objects: the index is part of the pointer
            for index, item in enumerate(detail):
                errors += field_errors(item, where, (*path, str(index)))
    else:
        errors.append(_entry(where, path, str(detail)))
    return errors


def _entry(where: str, path: tuple[str, ...], message: str) -> dict:
    if not path:
        return {"detail": message}
    if where == "pointer":
        escaped = (part.replace("~", "~0").replace("/", "~1") for part in path)
        return {"pointer": "#/" + "/".join(escaped), "detail": message}
    return {where: ".".join(path), "detail": message}


def service_refusal(error: DjangoValidationError, fields: dict[str, str] | None = None) -> exceptions.ValidationError:
    """A service's ValidationError (fields named as the service names them) as the API's 422, each field
    renamed to the body member the client sent (`fields`: service name -> body member)."""
    fields = fields or {}
    if hasattr(error, "error_dict"):
        detail = {}
        for name, errors in error.message_dict.items():
            key = "non_field_errors" if name == NON_FIELD_ERRORS else fields.get(name, name)
            detail.setdefault(key, []).extend(errors)
        return exceptions.ValidationError(detail)
    return exceptions.ValidationError({"non_field_errors": error.messages})


SLUG_BY_STATUS = {
    400: "malformed-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    415: "unsupported-media-type",
    422: "validation",
    429: "too-many-requests",
}


def exception_handler(exc, context) -> HttpResponse | None:
    """DRF's exception handler, answering problem+json. Anything else (a real bug) goes on to Django's 500
    handler, which also answers problem+json under /api/ (api.views.server_error)."""
    request = context.get("request")
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(*exc.args)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)
    if not isinstance(exc, exceptions.APIException):
        return None
    set_rollback()
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    if isinstance(exc, IdempotencyKeyReused):
        return problem_response(request, "idempotency-key-reused", exc.detail, headers=headers)
    if isinstance(exc, exceptions.ValidationError):
        errors = field_errors(exc.detail, getattr(exc, "where", "pointer"))
        messages = " ".join(entry["detail"] for entry in errors[:3])
        return problem_response(request, "validation", messages or "Some values were refused.", errors=errors,
                                status_code=status.HTTP_422_UNPROCESSABLE_ENTITY, headers=headers)  # fmt: skip
    slug = SLUG_BY_STATUS.get(exc.status_code, "malformed-request" if exc.status_code < 500 else "server-error")
    detail = exc.detail if not isinstance(exc.detail, dict | list) else "; ".join(_messages(exc.detail))
    if isinstance(exc, exceptions.NotAuthenticated):
        detail = PROBLEM_TYPES["unauthorized"].meaning
    return problem_response(request, slug, detail, status_code=exc.status_code, headers=headers)
