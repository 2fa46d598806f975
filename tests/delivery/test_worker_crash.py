"""Kill -9 a real Celery worker in the middle of a campaign, against real Redis and
PostgreSQL and a real STARTTLS relay: every recipient ends sent, failed, suppressed or
unknown, and the relay received no address twice."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from delivery import engine
from delivery.enums import DeliveryStatus
from delivery.models import Delivery
from delivery.tls import server_tls_context
from tests.campaigns.conftest import make_contact, make_list
from tests.delivery.helpers import approved_campaign
from tests.delivery.worker import (
    kill_hard,
    purge_queue,
    start_worker,
    stop,
    wait_until,
    worker_env,
)
from tests.servers import RecordingHandler, running_relay

RECIPIENTS = 240
FINAL = {
    DeliveryStatus.SENT,
    DeliveryStatus.FAILED,
    DeliveryStatus.SUPPRESSED,
    DeliveryStatus.UNKNOWN,
}


class SlowRelay(RecordingHandler):
    """Takes a little time per message, so the kill lands in the middle of the run."""

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(0.02)
        return await super().handle_DATA(server, session, envelope)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_killing_a_worker_mid_campaign_never_sends_twice(
    sending_domain, profile, marketer, approver, org_a, dev_tls, settings, tmp_path
):
    audience = make_list(org_a, "Everyone")
    for n in range(RECIPIENTS):
        make_contact(org_a, f"person{n:04d}@example.jp", audience, last_name=f"{n}")
    relay = SlowRelay()
    purge_queue()
    with running_relay(relay, server_tls_context(dev_tls)) as address:
        settings.DELIVERY_RELAY_HOST, settings.DELIVERY_RELAY_PORT = address
        settings.DELIVERY_RELAY_CA_FILE = str(dev_tls.ca_cert)
        env = worker_env(address, str(dev_tls.ca_cert))
        campaign = approved_campaign(marketer, approver, audience)
        first = start_worker(env, tmp_path / "worker-1.log")
        try:
            assert engine.dispatch_due_campaigns() == [campaign.pk]
            assert wait_until(lambda: len(relay.messages) >= RECIPIENTS // 3, timeout=60), (
                tmp_path / "worker-1.log"
            ).read_text()[-3000:]
        finally:
            kill_hard(first)
        received_at_kill = len(relay.messages)
        assert received_at_kill < RECIPIENTS, "the kill came too late to mean anything"

        # What the dead worker left claimed becomes unknown; what it left queued (tasks it
        # had reserved, unacknowledged) is published again.
        settings.DELIVERY_STUCK_SENDING_AFTER = 0
        settings.DELIVERY_LOST_QUEUED_AFTER = 0
        engine.maintain()
        settings.DELIVERY_STUCK_SENDING_AFTER = 600
        settings.DELIVERY_LOST_QUEUED_AFTER = 300
        second = start_worker(env, tmp_path / "worker-2.log")
        try:

            def finished() -> bool:
                engine.maintain()
                return not Delivery.objects.filter(
                    campaign=campaign, status__in=[DeliveryStatus.QUEUED, DeliveryStatus.SENDING]
                ).exists()

            assert wait_until(finished, timeout=120, interval=1.0), (
                tmp_path / "worker-2.log"
            ).read_text()[-3000:]
        finally:
            stop(second)

    statuses = Counter(Delivery.objects.filter(campaign=campaign).values_list("status", flat=True))
    assert set(statuses) <= FINAL
    assert sum(statuses.values()) == RECIPIENTS
    received = Counter(rcpt for _from, rcpts, _raw, _tls in relay.messages for rcpt in rcpts)
    assert [address for address, times in received.items() if times > 1] == []
    sent = set(
        Delivery.objects.filter(campaign=campaign, status=DeliveryStatus.SENT).values_list(
            "address", flat=True
        )
    )
    unknown = set(
        Delivery.objects.filter(campaign=campaign, status=DeliveryStatus.UNKNOWN).values_list(
            "address", flat=True
        )
    )
    assert sent <= set(received)
    assert set(received) <= sent | unknown
    assert statuses[DeliveryStatus.SENT] + len(unknown & set(received)) == len(received)
