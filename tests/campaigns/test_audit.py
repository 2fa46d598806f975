"""Every state change is audited with its actor and content hash; approvals and
rejections with their comment; test sends too."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from audit.models import AuditEntry
from audit.services import verify_chain
from campaigns import services
from tests.campaigns.conftest import edit

pytestmark = pytest.mark.django_db


def _log(campaign):
    return [
        (e.action, e.actor_label, e.details.get("state_before"), e.details.get("state"))
        for e in AuditEntry.objects.filter(
            target_type="campaigns.campaign", target_id=str(campaign.pk)
        )
        .filter(action__startswith="campaign_")
        .order_by("seq")
    ]


def test_a_campaigns_whole_life_is_in_the_audit_log(campaign, marketer, approver, test_outbox):
    services.send_test(marketer, campaign, ["qa@shop.example"])
    services.submit_campaign(marketer, campaign)
    services.reject_campaign(approver, campaign, comment="直してください")
    edit(marketer, campaign, subject="直しました")
    services.submit_campaign(marketer, campaign)
    services.approve_campaign(approver, campaign, comment="OK")
    services.claim_for_sending(campaign, now=timezone.now() + datetime.timedelta(minutes=6))
    services.pause_campaign(marketer, campaign)
    services.resume_campaign(marketer, campaign)
    services.mark_sent(campaign)

    assert _log(campaign) == [
        ("campaign_created", "marketer@a.example", None, None),
        ("campaign_test_sent", "marketer@a.example", None, "draft"),
        ("campaign_submitted", "marketer@a.example", "draft", "submitted"),
        ("campaign_rejected", "approver@a.example", "submitted", "draft"),
        ("campaign_changed", "marketer@a.example", None, None),
        ("campaign_submitted", "marketer@a.example", "draft", "submitted"),
        ("campaign_approval_given", "approver@a.example", None, None),
        ("campaign_approved", "approver@a.example", "submitted", "approved"),
        ("campaign_sending", "", "approved", "sending"),
        ("campaign_paused", "marketer@a.example", "sending", "paused"),
        ("campaign_resumed", "marketer@a.example", "paused", "sending"),
        ("campaign_sent", "", "sending", "sent"),
    ]
    fingerprints = {
        e.action: e.details.get("fingerprint")
        for e in AuditEntry.objects.filter(target_id=str(campaign.pk), action__startswith="camp")
    }
    campaign.refresh_from_db()
    assert fingerprints["campaign_approved"] == campaign.approved_fingerprint
    assert fingerprints["campaign_sent"] == campaign.approved_fingerprint
    assert all(len(value) == 64 for value in fingerprints.values())
    assert verify_chain(f"org:{campaign.organization_id}") is None


def test_approval_and_rejection_comments_are_recorded(campaign, marketer, approver):
    services.submit_campaign(marketer, campaign)
    services.reject_campaign(approver, campaign, comment="画像に代替テキストを")

    entry = AuditEntry.objects.get(action="campaign_rejected")
    assert entry.details["comment"] == "画像に代替テキストを"
    assert entry.target_label == "Spring sale"
