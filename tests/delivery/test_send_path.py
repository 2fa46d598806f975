"""The per-recipient send path as the worker runs it: the Celery task confined to its
organisation by row-level security, faults before the hand-over, and a pooled SMTP
connection the relay closed between two messages. Real PostgreSQL, real STARTTLS relay."""

from __future__ import annotations

import time

import pytest
from aiosmtpd.smtp import SMTP
from cryptography.fernet import Fernet

from accounts.tenancy import UNSCOPED, current_scope
from audit.enums import Action
from audit.models import AuditEntry
from campaigns.enums import CampaignState
from delivery import engine
from delivery.enums import DeliveryStatus
from delivery.models import Delivery, SendingDomain
from delivery.smtp import RelaySettings, pool
from delivery.tasks import send_delivery
from delivery.tls import server_tls_context
from tests.servers import RecordingHandler, _TLSController, free_port

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_campaign_cache():
    # The engine caches a campaign's keys and relay per process for a few seconds.
    engine._contexts.clear()
    engine._states.clear()
    yield
    engine._contexts.clear()
    engine._states.clear()


def _scope_values() -> tuple[str, ...]:
    scope = current_scope()
    return (scope["role"], scope["organization_id"], scope["user_id"], scope["cross"])


def test_the_task_sends_inside_its_organisation_and_leaves_the_connection_unscoped(
    ready, relay, org_a
):
    engine.dispatch_due_campaigns()
    delivery = Delivery.objects.filter(campaign=ready).order_by("pk").first()

    assert send_delivery.run(delivery.pk, org_a.pk) == DeliveryStatus.SENT

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT
    assert [rcpt for _from, rcpt, _raw, _tls in relay.messages] == [[delivery.address]]
    assert _scope_values() == UNSCOPED


def test_a_task_naming_another_organisation_cannot_even_see_the_row(ready, relay, org_b):
    engine.dispatch_due_campaigns()
    delivery = Delivery.objects.filter(campaign=ready).order_by("pk").first()

    # Row-level security hides org A's row from a task confined to org B: nothing to
    # claim, nothing sent, the row untouched.
    assert send_delivery.run(delivery.pk, org_b.pk) == "skipped_claim"

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.QUEUED, 0)
    assert relay.messages == []
    assert _scope_values() == UNSCOPED


def test_a_task_published_without_its_organisation_looks_it_up(ready, relay):
    engine.dispatch_due_campaigns()
    delivery = Delivery.objects.filter(campaign=ready).order_by("pk").first()

    assert send_delivery.run(delivery.pk) == DeliveryStatus.SENT
    assert send_delivery.run(10**12) == "missing"


def test_a_fault_before_the_hand_over_pauses_the_campaign_and_requeues_the_row(
    ready, relay, settings
):
    engine.dispatch_due_campaigns()
    delivery = Delivery.objects.filter(campaign=ready).order_by("pk").first()
    # The key the domain's private keys were encrypted with is gone from the settings.
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    assert SendingDomain.objects.filter(organization=ready.organization).count() == 1

    outcome = engine.send_one(delivery.pk)

    assert outcome.status == DeliveryStatus.QUEUED
    assert outcome.detail.startswith("The message could not be prepared: DecryptionError")
    delivery.refresh_from_db()
    # Back in the queue, unattempted: it was never handed to the relay.
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.QUEUED, 0)
    assert relay.messages == []
    ready.refresh_from_db()
    assert ready.state == CampaignState.PAUSED
    entry = AuditEntry.objects.get(action=Action.SENDING_FAULT)
    assert entry.target_id == str(ready.pk)
    assert entry.details["reason"] == outcome.detail


class _QuickToHangUp(_TLSController):
    """A relay that closes a connection idle for a quarter of a second."""

    def factory(self):
        return SMTP(
            self.handler,
            hostname="tayori-test-relay",
            tls_context=self._tls_context,
            require_starttls=True,
            decode_data=False,
            timeout=0.25,
        )


def test_a_pooled_connection_the_relay_closed_is_reopened_without_losing_the_message(dev_tls):
    handler = RecordingHandler()
    controller = _QuickToHangUp(
        handler, server_tls_context(dev_tls), hostname="127.0.0.1", port=free_port()
    )
    controller.start()
    try:
        relay = RelaySettings(
            host="127.0.0.1", port=controller.port, ca_bundle=dev_tls.ca_cert.read_text()
        )
        message = b"From: a@shop.example\r\nTo: b@example.jp\r\nSubject: x\r\n\r\nbody\r\n"
        first = pool().send(relay, "bounce@shop.example", "b@example.jp", message)
        time.sleep(1.0)  # the relay hangs up; the pool does not ask NOOP (idle < 5 s)
        second = pool().send(relay, "bounce@shop.example", "c@example.jp", message)
    finally:
        pool().close()
        controller.stop()

    assert (first.status, second.status) == ("sent", "sent")
    assert [rcpt for _from, rcpt, _raw, _tls in handler.messages] == [
        ["b@example.jp"],
        ["c@example.jp"],
    ]
