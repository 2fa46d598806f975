"""Helpers for the audit tests: what was written since a point, and raw tampering."""

from __future__ import annotations

from django.db import connection
from django.db.models import Max

from audit.models import AuditEntry

TRIGGER = "audit_auditentry_append_only"


def audit_mark() -> int:
    """A point in the log; ``entries_since(mark)`` returns what was written after it."""
    return AuditEntry.objects.aggregate(last=Max("pk"))["last"] or 0


def entries_since(mark: int) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(pk__gt=mark).order_by("pk"))


def tamper(sql: str, params=()) -> None:
    """Run one statement on the audit table with its append-only trigger switched off,
    as someone with owner rights on the database could."""
    with connection.cursor() as cursor:
        # The test's transaction still holds deferred foreign-key checks on this table,
        # and PostgreSQL refuses ALTER TABLE while any are pending: run them now.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"ALTER TABLE audit_auditentry DISABLE TRIGGER {TRIGGER}")
        try:
            cursor.execute(sql, params)
        finally:
            cursor.execute(f"ALTER TABLE audit_auditentry ENABLE TRIGGER {TRIGGER}")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
