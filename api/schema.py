"""The OpenAPI document's shared parts: the Bearer key scheme, problem+json on every operation, and the
Idempotency-Key header on every POST. drf-spectacular builds the rest from the views and serializers."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension

from .idempotency import HEADER, REPLAYED
from .problems import CONTENT_TYPE, PROBLEM_TYPES


class BearerKeyScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.BearerKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key (`lk_…`) created on the API keys page or with `manage.py create_api_key`.",
        }


PROBLEM = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri", "description": "A page that explains the problem type."},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "One entry per refused value: `pointer` (a JSON Pointer into the body), `parameter` "
            "(a query parameter) or `header` names it.",
            "items": {
                "type": "object",
                "required": ["detail"],
                "properties": {
                    "detail": {"type": "string"},
                    "pointer": {"type": "string"},
                    "parameter": {"type": "string"},
                    "header": {"type": "string"},
                },
            },
        },
    },
}

# The errors every operation may answer, and when.
COMMON = {
    "400": "The body is not valid JSON.",
    "401": "No key, or a revoked or mistyped one.",
    "403": "The key's role or store does not allow it.",
    "404": "No such resource (or page of results).",
    "406": "The Accept header asks for a format this resource does not give.",
    "422": "Values refused (`errors` names each), or an Idempotency-Key reused for another request.",
    "429": "The key's rate is exceeded: try again after `Retry-After` seconds.",
}
POST_ONLY = {"415": "The body is not JSON (Content-Type)."}
HEADERS = {
    "401": {"WWW-Authenticate": {"schema": {"type": "string"}, "required": True}},
    "429": {"Retry-After": {"schema": {"type": "integer"}, "required": True, "description": "Seconds to wait."}},
}


def add_problems_and_idempotency(result, generator, request, public):
    """drf-spectacular post-processing hook."""
    result.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM
    reference = {"$ref": "#/components/schemas/Problem"}
    for path in result.get("paths", {}).values():
        for method, operation in path.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            errors = COMMON | (POST_ONLY if method == "post" else {})
            for code, description in errors.items():
                response = {"description": description, "content": {CONTENT_TYPE: {"schema": reference}}}
                if code in HEADERS:
                    response["headers"] = HEADERS[code]
                operation["responses"].setdefault(code, response)
            if method == "post":
                operation.setdefault("parameters", []).append(
                    {
                        "name": HEADER,
                        "in": "header",
                        "required": False,
                        "description": "Retrying with the same key and body answers the first response again "
                        "and records nothing; the same key with another body is refused (422). Keys are kept "
                        "for LOYALTY_API_IDEMPOTENCY_DAYS days.",
                        "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
                    }
                )
                for code, response in operation["responses"].items():
                    if code.startswith("2"):
                        response.setdefault("headers", {})[REPLAYED] = {
                            "schema": {"type": "string", "enum": ["true"]},
                            "description": "Present when this is the stored answer to an earlier request.",
                        }
    result.setdefault("info", {})["x-problem-types"] = sorted(PROBLEM_TYPES)
    return result
