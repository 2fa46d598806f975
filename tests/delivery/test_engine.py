"""The send engine end to end, in one process: real PostgreSQL, a real DNS server for
the sending domain, a real STARTTLS relay (aiosmtpd) receiving real bytes."""

from __future__ import annotations

import email
import email.policy
from datetime import timedelta

import dkim
import pytest
from django.utils import timezone

from audit.models import AuditEntry
from campaigns.enums import CampaignState
from contacts.models import Suppression
from delivery import engine
from delivery.enums import DeliveryStatus
from delivery.models import Delivery
from tests.campaigns.conftest import make_list
from tests.delivery.helpers import approved_campaign as _approved
from tests.servers import RecordingHandler, running_relay

pytestmark = pytest.mark.django_db


def _send_all(campaign) -> list[str]:
    statuses = []
    for delivery_id in Delivery.objects.filter(campaign=campaign).values_list("pk", flat=True):
        statuses.append(engine.send_one(delivery_id).status)
    return statuses


def test_dispatch_freezes_each_recipient_once_and_sends_signed_mail(
    ready, relay, dns_zone, org_a, customers, marketer, approver
):
    assert engine.dispatch_due_campaigns() == [ready.pk]

    assert sorted(Delivery.objects.filter(campaign=ready).values_list("address", flat=True)) == [
        "sato@example.jp",
        "suzuki@example.jp",
        "yamada@example.jp",
    ]
    assert _send_all(ready) == ["sent", "sent", "sent"]
    assert len(relay.messages) == 3

    def dnsfunc(name, timeout=5):
        values = dns_zone.get(name.decode().rstrip("."), [])
        return values[0].encode() if values else None

    for mail_from, rcpt_tos, raw, over_tls in relay.messages:
        assert over_tls is True
        assert len(rcpt_tos) == 1
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert message.get_all("To") == [rcpt_tos[0]]
        assert message.get_all("Cc") is None and message.get_all("Bcc") is None
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert mail_from.startswith("b+") and mail_from.endswith("@bounces.tayori.localhost")
        signatures = dkim.DKIM(raw)
        assert signatures.verify(idx=0, dnsfunc=dnsfunc) is True  # RSA
        assert signatures.verify(idx=1, dnsfunc=dnsfunc) is True  # Ed25519
        assert b"h=from:to:subject:date:message-id:reply-to:list-unsubscribe:" in raw.replace(
            b"\r\n\t", b""
        )
    ready.refresh_from_db()
    assert ready.state == CampaignState.SENDING
    engine.maintain()
    ready.refresh_from_db()
    assert ready.state == CampaignState.SENT
    dispatched = AuditEntry.objects.get(action="campaign_dispatched")
    assert (dispatched.organization, dispatched.details["recipients"]) == (org_a, 3)


def test_overlapping_lists_send_once_per_address(
    sending_domain, relay, profile, org_a, customers, marketer, approver
):
    vip = make_list(org_a, "VIP")
    for contact in customers.contacts.all():
        vip.memberships.create(organization=org_a, contact=contact)
    campaign = _approved(marketer, approver, customers, vip)
    engine.dispatch_due_campaigns()
    assert Delivery.objects.filter(campaign=campaign).count() == 3
    _send_all(campaign)
    assert sorted(m[1][0] for m in relay.messages) == [
        "sato@example.jp",
        "suzuki@example.jp",
        "yamada@example.jp",
    ]


def test_a_row_is_never_sent_twice_whatever_the_broker_redelivers(ready, relay):
    engine.dispatch_due_campaigns()
    delivery = Delivery.objects.filter(campaign=ready).first()
    assert engine.send_one(delivery.pk).status == "sent"
    assert engine.send_one(delivery.pk).status == "skipped_claim"
    assert engine.send_one(delivery.pk).status == "skipped_claim"
    assert [m[1] for m in relay.messages] == [[delivery.address]]


def test_suppressed_after_freezing_is_not_sent(ready, relay, org_a):
    from contacts.services import add_suppression

    engine.dispatch_due_campaigns()
    add_suppression(org_a, "sato@example.jp", "manual", source="test")
    assert sorted(_send_all(ready)) == ["sent", "sent", "suppressed"]
    assert sorted(m[1][0] for m in relay.messages) == ["suzuki@example.jp", "yamada@example.jp"]


def test_temporary_failure_retries_later_then_succeeds(ready, relay):
    relay.responses["yamada@example.jp"] = ["451 4.3.0 Try again later", "250 OK"]
    engine.dispatch_due_campaigns()
    delivery = Delivery.objects.get(campaign=ready, address="yamada@example.jp")

    assert engine.send_one(delivery.pk).status == "queued"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.smtp_code) == ("queued", 1, 451)
    assert delivery.next_attempt_at > timezone.now() + timedelta(seconds=50)
    # Not before its time...
    assert engine.send_one(delivery.pk).status == "skipped_claim"
    # ...and when it comes.
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    assert engine.send_one(delivery.pk).status == "sent"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("sent", 2)


def test_permanent_failure_fails_and_suppresses(ready, relay, org_a):
    relay.responses["suzuki@example.jp"] = ["550 5.1.1 No such user"]
    engine.dispatch_due_campaigns()
    assert sorted(_send_all(ready)) == ["failed", "sent", "sent"]
    delivery = Delivery.objects.get(campaign=ready, address="suzuki@example.jp")
    assert (delivery.smtp_code, delivery.smtp_response) == (550, "5.1.1 No such user")
    suppression = Suppression.objects.get(organization=org_a, address="suzuki@example.jp")
    assert suppression.reason == "hard_bounce"
    assert AuditEntry.objects.filter(action="suppressed_by_bounce").count() == 1


def test_policy_refusal_fails_without_suppressing(ready, relay, org_a):
    relay.responses["suzuki@example.jp"] = ["data:554 5.7.1 Refused as spam"]
    engine.dispatch_due_campaigns()
    assert sorted(_send_all(ready)) == ["failed", "sent", "sent"]
    assert not Suppression.objects.filter(organization=org_a).exists()


def test_relay_without_starttls_pauses_the_campaign_and_sends_nothing(
    sending_domain, profile, customers, marketer, approver, settings
):
    handler = RecordingHandler()
    with running_relay(handler, None) as (host, port):
        settings.DELIVERY_RELAY_HOST, settings.DELIVERY_RELAY_PORT = host, port
        campaign = _approved(marketer, approver, customers)
        engine.dispatch_due_campaigns()
        first = Delivery.objects.filter(campaign=campaign).order_by("pk").first()
        outcome = engine.send_one(first.pk)
    assert outcome.status == "queued"
    assert "STARTTLS" in outcome.detail
    assert handler.messages == []
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.PAUSED
    assert (
        AuditEntry.objects.get(action="relay_outage")
        .details["reason"]
        .startswith(f"{host}:{port} does not offer STARTTLS")
    )
    first.refresh_from_db()
    assert (first.status, first.attempts) == ("queued", 0)
    # The next recipient's task sees the pause and hands its row back untouched.
    other = Delivery.objects.filter(campaign=campaign).exclude(pk=first.pk).first()
    assert engine.send_one(other.pk).status == "queued"


def test_campaign_over_the_monthly_limit_does_not_start(ready, org_a):
    org_a.monthly_send_limit = 2
    org_a.save()
    assert engine.dispatch_due_campaigns() == []
    assert Delivery.objects.count() == 0
    ready.refresh_from_db()
    assert ready.state == CampaignState.HELD
    assert ready.held_reason == "quota"


def test_a_crash_between_accept_and_commit_leaves_the_row_unknown(ready, relay):
    engine.dispatch_due_campaigns()
    delivery = Delivery.objects.filter(campaign=ready).first()
    # What a worker killed after the relay's 250 and before our UPDATE leaves behind:
    Delivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.SENDING, claimed_at=timezone.now() - timedelta(minutes=11)
    )
    assert engine.maintain()["unknown"] == 1
    delivery.refresh_from_db()
    assert delivery.status == "unknown"
    assert engine.send_one(delivery.pk).status == "skipped_claim"


def test_circuit_breaker_pauses_a_failing_campaign(ready, relay, settings):
    settings.DELIVERY_BREAKER_MIN_SENDS = 2
    settings.DELIVERY_BREAKER_FAILURE_PERCENT = 40
    relay.responses["*"] = ["data:554 5.7.1 Refused"]
    relay.responses["yamada@example.jp"] = ["250 OK"]
    engine.dispatch_due_campaigns()
    _send_all(ready)
    ready.refresh_from_db()
    assert ready.state == CampaignState.PAUSED
    assert AuditEntry.objects.filter(action="circuit_breaker_tripped").count() == 1
