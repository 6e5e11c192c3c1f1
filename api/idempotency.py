"""`Idempotency-Key` on every POST: the same key and the same request get the first answer again and write
nothing; the same key with another request is refused (422, problem type idempotency-key-reused).

How it holds under concurrent retries: the key's record is inserted first, in the same database transaction
as everything the request then writes, and committed with them. A second request with the same key blocks
on that insert (PostgreSQL waits on the uncommitted unique key; SQLite's writers queue for the one write
lock) until the first commits, then finds the record and answers with its response; if the first rolled back,
the second goes ahead as if it were first. Only successful answers (2xx) are kept: a refused request leaves
no record, so the client can correct it and send it again with the same key.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from rest_framework.response import Response

from .models import IdempotencyRecord
from .permissions import api_key_of
from .problems import IdempotencyKeyReused, InvalidHeader

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
# Visible ASCII, no spaces: a UUID, a ULID or the point of sale's own transaction id all fit.
_KEY = re.compile(r"[\x21-\x7e]{1,255}")


def fingerprint(request) -> str:
    """SHA-256 of what makes two requests the same: method, path and JSON body (key order and spacing aside)."""
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)
    return hashlib.sha256(f"{request.method} {request.get_full_path()}\n{body}".encode()).hexdigest()


def idempotent(request, handler: Callable[[], Response]) -> Response:
    """Run `handler` (which writes through the services) at most once per API key and Idempotency-Key."""
    key = request.headers.get(HEADER)
    if key is None:
        return handler()
    if not _KEY.fullmatch(key):
        raise InvalidHeader(HEADER, "An Idempotency-Key is 1 to 255 visible ASCII characters, e.g. a UUID.")
    api_key = api_key_of(request)
    request_print = fingerprint(request)
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(api_key=api_key, key=key, fingerprint=request_print)
        except IntegrityError:
            earlier = IdempotencyRecord.objects.get(api_key=api_key, key=key)
            if earlier.fingerprint != request_print:
                raise IdempotencyKeyReused() from None
            return Response(json.loads(earlier.body), status=earlier.status, headers={REPLAYED: "true"})
        response = handler()
        if not 200 <= response.status_code < 300:
            transaction.set_rollback(True)
            return response
        record.status = response.status_code
        record.body = json.dumps(response.data, cls=DjangoJSONEncoder)
        record.save(update_fields=["status", "body"])
    return response
