"""Test sends, reports and sending domains through the API."""

from __future__ import annotations

import pytest
from django.utils import timezone

from audit.enums import Action
from audit.models import AuditEntry
from campaigns import hooks
from delivery.models import Delivery, SendingDomain
from tests.api.conftest import api_for
from tests.campaigns.conftest import make_campaign, verified


@pytest.fixture
def outbox():
    """Delivery's test sender, standing in: records what it was asked to send."""
    sent = []

    def sender(campaign, message, recipient):
        sent.append((recipient, message.subject))
        return hooks.TestSendResult(recipient=recipient, ok=True, message="250 OK")

    with hooks.registered(domain_checker=verified, test_sender=sender):
        yield sent


def test_a_test_send_goes_only_to_allowed_addresses(
    marketer_api, marketer, customers, profile, outbox
):
    campaign = make_campaign(marketer, customers, subject="春のセール")

    sent = marketer_api.post(
        f"campaigns/{campaign.pk}/test-send/", {"recipients": ["qa@shop.example"]}
    )
    refused = marketer_api.post(
        f"campaigns/{campaign.pk}/test-send/", {"recipients": ["someone@else.example"]}
    )

    assert sent.status_code == 200, sent.content
    assert sent.json() == [{"recipient": "qa@shop.example", "ok": True, "message": "250 OK"}]
    assert outbox == [("qa@shop.example", "[TEST] 春のセール")]
    assert refused.status_code == 400
    assert list(refused.json()["fields"]) == ["recipients"]
    assert AuditEntry.objects.filter(action=Action.CAMPAIGN_TEST_SENT).count() == 1


def test_a_test_send_needs_the_send_scope(marketer, customers, profile, outbox):
    campaign = make_campaign(marketer, customers)
    api = api_for(marketer, scopes=["read", "write"])

    response = api.post(f"campaigns/{campaign.pk}/test-send/", {"recipients": ["qa@shop.example"]})

    assert response.status_code == 403
    assert outbox == []


def test_the_report_counts_deliveries(marketer_api, marketer, customers, org_a, verified_domain):
    campaign = make_campaign(marketer, customers)
    now = timezone.now()
    for n, (status, opened) in enumerate([("sent", now), ("sent", None), ("failed", None)]):
        Delivery.objects.create(
            organization=org_a,
            campaign=campaign,
            address=f"r{n}@example.jp",
            token=f"t{n:031d}",
            status=status,
            opened_at=opened,
        )

    report = marketer_api.get(f"campaigns/{campaign.pk}/report/").json()

    assert report["recipients"] == 3
    assert report["by_status"]["sent"] == 2
    assert report["by_status"]["failed"] == 1
    assert (report["opened"], report["clicked"], report["bounced"]) == (1, 0, 0)


def test_sending_domains_are_for_admins(marketer_api, admin_api, org_a, settings):
    settings.DNS_NAMESERVERS = ["127.0.0.1:9"]  # nothing answers there, at once
    settings.DNS_TIMEOUT = 0.05
    domain = SendingDomain.objects.create(
        organization=org_a,
        domain="shop.example",
        rsa_selector="s1",
        rsa_private_key="x",
        rsa_public_key="y",
    )

    assert marketer_api.get("domains/").status_code == 403
    assert marketer_api.post(f"domains/{domain.pk}/verify/").status_code == 403
    listed = admin_api.get("domains/").json()["results"]
    verified_now = admin_api.post(f"domains/{domain.pk}/verify/")

    assert [d["domain"] for d in listed] == ["shop.example"]
    assert {r["kind"] for r in listed[0]["dns_records"]} >= {"dkim_rsa", "spf", "dmarc"}
    assert verified_now.status_code == 200
    assert verified_now.json()["status"] == "pending"  # DNS did not answer: unchanged
    assert {c["status"] for c in verified_now.json()["checks"]} == {"unavailable"}
