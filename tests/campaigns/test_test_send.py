"""Test sends: members and test addresses only, [TEST] in the subject, through delivery's
registered sender, audited, never counted as a send."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from audit.models import AuditEntry
from campaigns import hooks, services
from campaigns.hooks import TestSendResult
from campaigns.models import Campaign

pytestmark = pytest.mark.django_db


def test_without_a_registered_sender_test_sends_are_unavailable(campaign, marketer):
    with hooks.registered(), pytest.raises(services.TestSendUnavailable) as error:
        services.send_test(marketer, campaign, ["marketer@a.example"])

    assert error.value.messages == [
        "Test sends are not available until sending domains are set up."
    ]
    assert not AuditEntry.objects.filter(action="campaign_test_sent").exists()


def test_a_test_send_goes_through_the_registered_sender(campaign, marketer, approver, test_outbox):
    results = services.send_test(marketer, campaign, ["Marketer@a.example", "qa@shop.example"])

    assert results == [
        TestSendResult("marketer@a.example", True, "250 OK"),
        TestSendResult("qa@shop.example", True, "250 OK"),
    ]
    assert [recipient for recipient, _message in test_outbox] == [
        "marketer@a.example",
        "qa@shop.example",
    ]
    message = test_outbox[0][1]
    assert message.subject == "[TEST] 山田様 春のセールのお知らせ"
    assert "山田 太郎 様" in message.html


def test_a_test_send_is_audited_and_changes_nothing_else(campaign, marketer, test_outbox):
    services.send_test(marketer, campaign, ["qa@shop.example"])

    entry = AuditEntry.objects.get(action="campaign_test_sent")
    assert entry.actor == marketer.user
    assert entry.target_id == str(campaign.pk)
    assert entry.details["recipients"] == ["qa@shop.example"]
    assert entry.details["results"] == {"qa@shop.example": "ok"}
    assert entry.details["fingerprint"] == services.content_fingerprint(campaign)
    campaign.refresh_from_db()
    assert campaign.state == "draft"


def test_a_test_send_to_an_outside_address_is_refused(campaign, marketer, test_outbox):
    with pytest.raises(ValidationError) as error:
        services.send_test(marketer, campaign, ["qa@shop.example", "someone@gmail.com"])

    assert error.value.message_dict["recipients"] == [
        "Test sends go only to members of the organisation and its test addresses; not to "
        "someone@gmail.com."
    ]
    assert test_outbox == []


def test_members_of_another_organisation_are_outside_addresses(
    campaign, marketer, outsider, test_outbox
):
    with pytest.raises(ValidationError):
        services.send_test(marketer, campaign, ["outsider@b.example"])


def test_a_test_send_may_be_personalised_for_a_contact_of_the_audience(
    campaign, marketer, test_outbox, customers
):
    sato = customers.contacts.get(email="sato@example.jp")

    services.send_test(marketer, campaign, ["qa@shop.example"], contact_id=sato.pk)

    assert test_outbox[0][1].subject == "[TEST] 佐藤様 春のセールのお知らせ"


def test_a_contact_outside_the_audience_cannot_be_used(campaign, marketer, test_outbox, org_a):
    from tests.campaigns.conftest import make_contact

    other = make_contact(org_a, "other@example.jp", last_name="他")

    with pytest.raises(ValidationError):
        services.send_test(marketer, campaign, ["qa@shop.example"], contact_id=other.pk)


def test_a_failing_sender_is_reported_and_audited(campaign, marketer, verified_domain):
    def broken(campaign, message, recipient):
        raise ConnectionError("relay refused STARTTLS")

    with hooks.registered(test_sender=broken):
        results = services.send_test(marketer, campaign, ["qa@shop.example"])

    assert results == [TestSendResult("qa@shop.example", False, "relay refused STARTTLS")]
    entry = AuditEntry.objects.get(action="campaign_test_sent")
    assert entry.details["results"] == {"qa@shop.example": "relay refused STARTTLS"}


def test_test_sends_need_the_permission(campaign, approver, test_outbox):
    with pytest.raises(PermissionDenied):
        services.send_test(approver, campaign, ["approver@a.example"])


def test_at_most_ten_addresses(campaign, marketer, test_outbox):
    with pytest.raises(ValidationError):
        services.send_test(marketer, campaign, [f"a{i}@a.example" for i in range(11)])


def test_a_test_send_is_never_a_state_change(submitted, marketer, test_outbox):
    services.send_test(marketer, submitted, ["qa@shop.example"])

    assert Campaign.objects.get(pk=submitted.pk).state == "submitted"
