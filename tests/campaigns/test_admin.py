"""The Django admin cannot approve a campaign or move its state: campaigns, approvals
and layouts are read-only there; the sender profile is editable and a footer change
returns approved campaigns to draft, as on the settings page."""

from __future__ import annotations

import pytest
from django.test import Client

from campaigns import services
from campaigns.enums import CampaignState
from campaigns.models import Approval, Campaign, SenderProfile
from tests.factories import login_verified, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator_client(db):
    operator = make_user("operator@tayori.example", is_staff=True, is_superuser=True)
    client = Client()
    login_verified(client, operator)
    return client


def test_the_campaign_admin_shows_but_cannot_change_a_campaign(operator_client, submitted):
    url = f"/admin/campaigns/campaign/{submitted.pk}/change/"

    page = operator_client.get(url)
    response = operator_client.post(url, {"state": "approved", "name": "x"})

    assert page.status_code == 200
    assert b'name="state"' not in page.content
    assert response.status_code == 403
    submitted.refresh_from_db()
    assert submitted.state == CampaignState.SUBMITTED


def test_the_admin_cannot_add_or_delete_campaigns_or_approvals(operator_client, submitted):
    assert operator_client.get("/admin/campaigns/campaign/add/").status_code == 403
    assert operator_client.get("/admin/campaigns/approval/add/").status_code == 403
    delete = operator_client.post(
        f"/admin/campaigns/campaign/{submitted.pk}/delete/", {"post": "yes"}
    )
    assert delete.status_code == 403
    assert Campaign.objects.filter(pk=submitted.pk).exists()
    assert Approval.objects.count() == 0


def test_the_admin_changelist_offers_no_bulk_state_change(operator_client, submitted):
    response = operator_client.post(
        "/admin/campaigns/campaign/",
        {"action": "delete_selected", "_selected_action": [submitted.pk], "post": "yes"},
    )

    assert response.status_code in (200, 302, 403)
    assert Campaign.objects.filter(pk=submitted.pk).exists()


def test_a_footer_change_in_the_admin_returns_approved_campaigns_to_draft(
    operator_client, submitted, approver, profile
):
    services.approve_campaign(approver, submitted)
    url = f"/admin/campaigns/senderprofile/{profile.pk}/change/"

    response = operator_client.post(
        url,
        {
            "organization": profile.organization_id,
            "sender_name": profile.sender_name,
            "postal_address": "〒530-0001 大阪府",
            "complaints_contact": profile.complaints_contact,
            "footer_language": "ja",
            "test_addresses": profile.test_addresses,
            "drift_threshold_percent": 10,
            "undo_window_minutes": 5,
            "spam_score_limit": "5.0",
        },
    )

    assert response.status_code == 302
    assert SenderProfile.objects.get(pk=profile.pk).postal_address == "〒530-0001 大阪府"
    submitted.refresh_from_db()
    assert submitted.state == CampaignState.DRAFT
