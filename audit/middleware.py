from __future__ import annotations

from auditlog.middleware import AuditlogMiddleware as _AuditlogMiddleware

from accounts.net import client_ip


class AuditlogMiddleware(_AuditlogMiddleware):
    """django-auditlog's middleware, reading the client address as the rest of the app does.

    Upstream takes the left-most ``X-Forwarded-For`` entry, which the client writes
    itself; the change history would then record whatever address a caller claims.
    """

    @staticmethod
    def _get_remote_addr(request):
        return client_ip(request)

    @staticmethod
    def _get_remote_port(request):
        # X-Forwarded-Port is client-controlled too; we do not record it.
        return None
