"""Thin Celery doors onto ``audit.alerts``.

Both tasks are idempotent (an alert is made once per entry and kind), so a redelivered
message (``acks_late``) or an overlap between the per-entry task and the sweep is
harmless. Each evaluation runs confined to the entry's organisation
(``accounts.tenancy.tenant_scope``: row-level security applies as in a request).
"""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from accounts.tenancy import tenant_scope
from audit import alerts
from audit.models import AuditEntry


def _evaluate(entry_id: int, organization_id: int | None) -> int:
    if organization_id is None:
        return 0  # the platform chain: no organisation to alert
    with tenant_scope(organization_id):
        return len(alerts.evaluate_entry(entry_id))


@shared_task(
    autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5, ignore_result=True
)
def evaluate_alerts(entry_id: int) -> int:
    """Evaluate one audit entry (queued on commit by ``audit.services.record``)."""
    organization_id = (
        AuditEntry.objects.filter(pk=entry_id).values_list("organization_id", flat=True).first()
    )
    return _evaluate(entry_id, organization_id)


@shared_task(ignore_result=True)
def sweep_alerts() -> int:
    """Beat job: evaluate the last minutes of watched entries again (the safety net).
    Spans organisations by nature; each evaluation is confined to its own."""
    return sum(_evaluate(pk, org_id) for pk, org_id in alerts.recent_watched_entries())
