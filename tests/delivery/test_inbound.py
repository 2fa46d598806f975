"""Bounces, complaints and mailto unsubscribes arriving at the inbound SMTP endpoint."""

from __future__ import annotations

import smtplib

import pytest

from audit.models import AuditEntry
from contacts.models import Suppression
from delivery import engine, inbound
from delivery.models import Delivery, DeliveryEvent
from tests.delivery.helpers import approved_campaign
from tests.servers import running_relay

pytestmark = pytest.mark.django_db


def _dsn(token: str, status: str, action: str = "failed") -> bytes:
    return (
        "From: MAILER-DAEMON@mx.example.jp\r\n"
        f"To: b+{token}@bounces.tayori.localhost\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n'
        "\r\n--B\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.jp\r\n\r\n"
        "Final-Recipient: rfc822; sato@example.jp\r\n"
        f"Action: {action}\r\nStatus: {status}\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n"
        "\r\n--B--\r\n"
    ).encode()


def _arf(token: str) -> bytes:
    return (
        "From: fbl@isp.example\r\n"
        f"To: b+{token}@bounces.tayori.localhost\r\n"
        "Subject: complaint\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="F"\r\n'
        "\r\n--F\r\nContent-Type: text/plain\r\n\r\nA complaint.\r\n"
        "--F\r\nContent-Type: message/feedback-report\r\n\r\n"
        "Feedback-Type: abuse\r\nUser-Agent: isp-fbl/1.0\r\nVersion: 1\r\n"
        "\r\n--F--\r\n"
    ).encode()


@pytest.fixture
def delivered(ready, relay):
    engine.dispatch_due_campaigns()
    delivery = Delivery.objects.get(campaign=ready, address="sato@example.jp")
    engine.send_one(delivery.pk)
    delivery.refresh_from_db()
    return delivery


def test_a_hard_bounce_dsn_suppresses_the_address(delivered, org_a):
    outcome = inbound.process(
        f"b+{delivered.token}@bounces.tayori.localhost", _dsn(delivered.token, "5.1.1")
    )
    assert outcome == "hard_bounce"
    assert Suppression.objects.get(organization=org_a, address="sato@example.jp").reason == (
        "hard_bounce"
    )
    assert DeliveryEvent.objects.get(delivery=delivered).detail == (
        "5.1.1 smtp; 550 5.1.1 user unknown"
    )
    assert AuditEntry.objects.filter(action="suppressed_by_bounce").count() == 1


def test_a_soft_bounce_is_recorded_but_not_suppressed(delivered, org_a):
    outcome = inbound.process(
        f"b+{delivered.token}@bounces.tayori.localhost",
        _dsn(delivered.token, "4.2.2", action="delayed"),
    )
    assert outcome == "soft_bounce"
    assert not Suppression.objects.filter(organization=org_a).exists()
    assert DeliveryEvent.objects.get(delivery=delivered).kind == "soft_bounce"


def test_a_complaint_suppresses_the_address(delivered, org_a):
    outcome = inbound.process(
        f"b+{delivered.token}@bounces.tayori.localhost", _arf(delivered.token)
    )
    assert outcome == "complaint"
    assert Suppression.objects.get(organization=org_a, address="sato@example.jp").reason == (
        "complaint"
    )


def test_a_mailto_unsubscribe_suppresses_once(delivered, org_a):
    rcpt = f"unsubscribe+{delivered.token}@bounces.tayori.localhost"
    assert inbound.process(rcpt, b"Subject: unsubscribe\r\n\r\n") == "unsubscribe"
    assert inbound.process(rcpt, b"Subject: unsubscribe\r\n\r\n") == "unsubscribe"
    assert Suppression.objects.filter(organization=org_a, reason="unsubscribed").count() == 1
    assert AuditEntry.objects.filter(action="unsubscribed").count() == 1


def test_unknown_tokens_and_plain_replies_are_ignored(delivered, org_a):
    assert inbound.process("b+" + "0" * 32 + "@bounces.tayori.localhost", b"x") == "ignored"
    assert (
        inbound.process(
            f"b+{delivered.token}@bounces.tayori.localhost", b"Subject: out of office\r\n\r\nhi"
        )
        == "ignored"
    )
    assert inbound.process(f"b+{delivered.token}@elsewhere.example", b"x") == "ignored"
    assert not Suppression.objects.filter(organization=org_a).exists()


@pytest.mark.django_db(transaction=True)
def test_the_endpoint_takes_bounces_over_smtp_and_refuses_other_recipients(
    sending_domain, relay, profile, customers, marketer, approver, org_a
):
    campaign = approved_campaign(marketer, approver, customers)
    engine.dispatch_due_campaigns()
    delivery = Delivery.objects.get(campaign=campaign, address="sato@example.jp")
    engine.send_one(delivery.pk)
    with (
        running_relay(inbound.InboundHandler(), None) as (host, port),
        smtplib.SMTP(host, port, timeout=10) as smtp,
    ):
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            smtp.sendmail("x@mx.example.jp", ["someone@example.com"], b"Subject: x\r\n\r\nx")
        refused = smtp.sendmail(
            "",
            [f"b+{delivery.token}@bounces.tayori.localhost"],
            _dsn(delivery.token, "5.1.1"),
        )
    assert refused == {}
    assert Suppression.objects.get(organization=org_a, address="sato@example.jp").reason == (
        "hard_bounce"
    )
