"""The audit trail: one append-only table of who did what, when, from which address, and what changed.

django-auditlog writes the model history of accounts, groups and permissions into it (this model is its
log entry model, `AUDITLOG_LOGENTRY_MODEL`); everything else is written by `audit.record(...)`.
Nobody edits or deletes a row: not the product, not the admin (read-only), not the ORM (refused here),
and on PostgreSQL not even SQL (a trigger, migration 0002).
"""

from auditlog.models import AbstractLogEntry, LogEntryManager
from django.conf import settings
from django.db import models

from .events import Event


class AuditTrailIsAppendOnly(Exception):
    """An attempt to change or delete an event of the audit trail."""


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AuditTrailIsAppendOnly("The audit trail is append-only: events are never changed.")

    def delete(self):
        raise AuditTrailIsAppendOnly("The audit trail is append-only: events are never deleted.")


class AuditEventManager(LogEntryManager.from_queryset(AppendOnlyQuerySet)):
    """auditlog's manager (it writes model history through `log_create` and `log_m2m_changes`), naming
    each history entry's event from the model and the action."""

    def log_create(self, instance, force_log: bool = False, **kwargs):
        from .history import event_for

        if "action" in kwargs:
            kwargs.setdefault("event", event_for(instance, kwargs["action"]))
        return super().log_create(instance, force_log=force_log, **kwargs)

    def log_m2m_changes(self, changed_queryset, instance, operation, field_name, **kwargs):
        from .history import event_for

        kwargs.setdefault("event", event_for(instance, AbstractLogEntry.Action.UPDATE))
        return super().log_m2m_changes(changed_queryset, instance, operation, field_name, **kwargs)


class AuditEvent(AbstractLogEntry):
    Event = Event

    event = models.CharField(max_length=40, choices=Event.choices, db_index=True)
    # Who: the signed-in person (kept: an account with events cannot be deleted, only deactivated), and the
    # username as it was then, or as typed at a failed sign-in (when there is no account to point at).
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actor_username = models.CharField(max_length=150, blank=True)
    # What it happened to, when anything: events such as an import or an export have no single object.
    content_type = models.ForeignKey(
        "contenttypes.ContentType", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    object_pk = models.CharField(max_length=255, blank=True, db_index=True)
    object_repr = models.TextField(blank=True)

    objects = AuditEventManager()

    class Meta(AbstractLogEntry.Meta):
        verbose_name = "audit event"
        verbose_name_plural = "audit trail"
        ordering = ["-timestamp", "-id"]

    def __str__(self) -> str:
        return f"{self.get_event_display()}: {self.object_repr}" if self.object_repr else self.get_event_display()

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AuditTrailIsAppendOnly("The audit trail is append-only: events are never changed.")
        if self.actor is not None and not self.actor_username:
            self.actor_username = self.actor.get_username()
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditTrailIsAppendOnly("The audit trail is append-only: events are never deleted.")

    @property
    def detail(self) -> dict:
        return self.additional_data or {}
