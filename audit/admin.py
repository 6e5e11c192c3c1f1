from django.contrib import admin

from .models import AuditEvent

# auditlog (earlier in INSTALLED_APPS) registers its own admin for the log entry model, this one: replaced
# by a read-only one.
if admin.site.is_registered(AuditEvent):
    admin.site.unregister(AuditEvent)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The trail in the admin: read only, for everyone, whatever their permissions say."""

    list_display = ["timestamp", "actor_username", "event", "object_repr", "remote_addr"]
    list_filter = ["event"]
    search_fields = ["actor_username", "object_repr"]
    date_hierarchy = "timestamp"
    list_select_related = ["actor", "content_type"]
    readonly_fields = [field.name for field in AuditEvent._meta.fields]
    actions = None

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
