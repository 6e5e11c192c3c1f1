"""Writing to the audit trail: `record(...)`, the one function every other part of the product calls."""

from __future__ import annotations

import getpass
import json
from typing import Any

from axes.helpers import get_client_ip_address
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.http import HttpRequest

from .events import Event
from .models import AuditEvent

REPR_LENGTH = 200


def client_address(request: HttpRequest | None) -> str | None:
    """The client's address as django-axes sees it (REMOTE_ADDR, or the address the trusted proxy in front
    of us saw, per LOYALTY_PROXY_COUNT): lockouts and the trail name the same address."""
    if request is None:
        return None
    return get_client_ip_address(request) or None


def command_line_user() -> str:
    """Who ran a management command, as the trail names them (there is no signed-in account)."""
    try:
        return f"{getpass.getuser()} (command line)"
    except (KeyError, OSError):
        return "(command line)"


def _json_safe(value: Any) -> Any:
    # Decimals, dates and model instances as text; the stored JSON reads the same on SQLite and PostgreSQL.
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder, default=str))


def record(
    event: Event | str,
    *,
    actor=None,
    request: HttpRequest | None = None,
    target: models.Model | None = None,
    changes: dict[str, tuple[Any, Any] | list[Any]] | None = None,
    detail: dict[str, Any] | None = None,
    username: str = "",
) -> AuditEvent:
    """Append one event to the audit trail and return it.

    - `event`: an `audit.Event` (what happened).
    - `actor`: who did it; defaults to the request's signed-in user. `username` names someone without an
      account to point at (a failed sign-in's typed username).
    - `request`: where from (the client's address); inside a request the audit middleware fills in the
      address, and the actor when none is given, even when `request` is not passed.
    - `target`: the object it happened to, if one (a refund's transaction, a program, an account).
    - `changes`: what changed, `{field: (before, after)}`.
    - `detail`: anything else worth keeping (a file name, row counts, the filters of an export).
    """
    event = Event(event)
    if actor is None and request is not None and getattr(request, "user", None) is not None:
        actor = request.user if request.user.is_authenticated else None
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    fields: dict[str, Any] = {
        "event": event,
        "action": AuditEvent.Action.ACCESS,
        "actor": actor,
        "actor_username": actor.get_username() if actor is not None else (username or "")[:150],
        "actor_email": getattr(actor, "email", None) or None,
        "remote_addr": client_address(request),
        "changes": _json_safe({name: list(pair) for name, pair in changes.items()}) if changes else None,
        "additional_data": _json_safe(detail) if detail else None,
    }
    if target is not None:
        fields.update(
            content_type=ContentType.objects.get_for_model(target, for_concrete_model=False),
            object_pk=str(target.pk),
            object_id=target.pk if isinstance(target.pk, int) else None,
            object_repr=str(target)[:REPR_LENGTH],
        )
    return AuditEvent.objects.create(**fields)
