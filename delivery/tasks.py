"""Thin Celery doors onto ``delivery.engine`` and ``delivery.services``.

System work (dispatching, sending) acts as nobody: its audit entries carry no actor.
"""

from __future__ import annotations

import logging

from celery import shared_task

from accounts.tenancy import UNSCOPED, cross_tenant, tenant_session
from campaigns.models import Campaign
from delivery import engine
from delivery.models import Delivery

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def dispatch_due_campaigns() -> list[int]:
    with cross_tenant():  # claims the due campaigns of every organisation
        return engine.dispatch_due_campaigns()


@shared_task(ignore_result=True)
def enqueue_deliveries(campaign_id: int, after_id: int) -> None:
    organization_id = (
        Campaign.objects.filter(pk=campaign_id).values_list("organization_id", flat=True).first()
    )
    if organization_id is None:
        return
    with tenant_session(organization_id, restore=UNSCOPED):
        last = engine.enqueue_batch(campaign_id, after_id)
    if last is not None:
        enqueue_deliveries.delay(campaign_id, last)


@shared_task(ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def send_delivery(delivery_id: int, organization_id: int | None = None) -> str:
    """Confined to the delivery's organisation (row-level security) for the whole send.

    ``tenant_session``, not ``tenant_scope``: the claim is committed before the SMTP
    conversation, so a crash in between leaves the row visibly ``sending``/``unknown``.
    The worker's connection is unscoped between tasks, so that is what is restored (one
    round trip saved per message). A task published before the organisation was part
    of its arguments looks it up first."""
    if organization_id is None:
        organization_id = (
            Delivery.objects.filter(pk=delivery_id)
            .values_list("organization_id", flat=True)
            .first()
        )
        if organization_id is None:
            return "missing"
    with tenant_session(organization_id, restore=UNSCOPED):
        return engine.send_one(delivery_id).status


@shared_task(ignore_result=True)
def maintain() -> dict:
    with cross_tenant():  # every organisation's rows: retries, lost tasks, finished campaigns
        counts = engine.maintain()
    if any(counts.values()):
        logger.info("delivery maintenance: %s", counts)
    return counts


@shared_task(ignore_result=True)
def check_sending_domains() -> int:
    from delivery.models import SendingDomain
    from delivery.services import verify_sending_domain

    with cross_tenant():  # which domains exist, in every organisation
        domains = list(SendingDomain.objects.values_list("pk", "organization_id"))
    for pk, organization_id in domains:
        with tenant_session(organization_id, restore=UNSCOPED):
            domain = SendingDomain.objects.filter(pk=pk).first()
            if domain is not None:
                verify_sending_domain(domain)
    return len(domains)
