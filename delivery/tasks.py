"""Thin Celery doors onto ``delivery.engine`` and ``delivery.services``.

System work (dispatching, sending) acts as nobody: its audit entries carry no actor.
"""

from __future__ import annotations

import logging

from celery import shared_task

from delivery import engine

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def dispatch_due_campaigns() -> list[int]:
    return engine.dispatch_due_campaigns()


@shared_task(ignore_result=True)
def enqueue_deliveries(campaign_id: int, after_id: int) -> None:
    last = engine.enqueue_batch(campaign_id, after_id)
    if last is not None:
        enqueue_deliveries.delay(campaign_id, last)


@shared_task(ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def send_delivery(delivery_id: int) -> str:
    return engine.send_one(delivery_id).status


@shared_task(ignore_result=True)
def maintain() -> dict:
    counts = engine.maintain()
    if any(counts.values()):
        logger.info("delivery maintenance: %s", counts)
    return counts


@shared_task(ignore_result=True)
def check_sending_domains() -> int:
    from delivery.models import SendingDomain
    from delivery.services import verify_sending_domain

    checked = 0
    for domain in SendingDomain.objects.all().iterator():
        verify_sending_domain(domain)
        checked += 1
    return checked
