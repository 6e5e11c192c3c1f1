"""The audit trail. Call `audit.record(audit.Event.X, actor=..., request=..., target=..., changes=..., detail=...)`
to write one event; see audit/services.py."""

from .events import Event

__all__ = ["Event", "record"]


def record(event, **kwargs):
    # audit.services imports the models, which cannot load while the app registry is still being filled
    # (this package is imported first, by INSTALLED_APPS).
    from .services import record as record_event

    return record_event(event, **kwargs)
