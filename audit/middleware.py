from auditlog.middleware import AuditlogMiddleware

from .services import client_address


class AuditMiddleware(AuditlogMiddleware):
    """auditlog's middleware (the request's user and address on every event written during the request),
    with the address decided as django-axes decides it, so that a proxy's X-Forwarded-For is trusted only
    as far as LOYALTY_PROXY_COUNT says."""

    @staticmethod
    def _get_remote_addr(request):
        return client_address(request)

    @staticmethod
    def _get_remote_port(request):
        return None
