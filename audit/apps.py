from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        # The model history that django-auditlog keeps (accounts, groups, permissions, till stores,
        # two-factor devices) and the sign-in events that Django and django-axes signal.
        from . import receivers  # noqa: F401
        from .history import register_models

        register_models()
