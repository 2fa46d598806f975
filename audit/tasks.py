"""Thin Celery doors onto ``audit.alerts``.

Both tasks are idempotent (an alert is made once per entry and kind), so a redelivered
message (``acks_late``) or an overlap between the per-entry task and the sweep is
harmless.
"""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from audit import alerts


@shared_task(
    autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5, ignore_result=True
)
def evaluate_alerts(entry_id: int) -> int:
    """Evaluate one audit entry (queued on commit by ``audit.services.record``)."""
    return len(alerts.evaluate_entry(entry_id))


@shared_task(ignore_result=True)
def sweep_alerts() -> int:
    """Beat job: evaluate the last minutes of watched entries again (the safety net)."""
    return alerts.sweep()
