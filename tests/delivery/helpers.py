"""Helpers shared by the delivery tests."""

from __future__ import annotations

from django.utils import timezone

from campaigns import services as campaign_services
from campaigns.models import Campaign
from tests.campaigns.conftest import campaign_input


def approved_campaign(marketer, approver, *lists, **fields) -> Campaign:
    data = campaign_input(lists[0], **fields)
    data.include_lists = list(lists)
    campaign = campaign_services.create_campaign(marketer, data)
    campaign_services.submit_campaign(marketer, campaign)
    campaign_services.approve_campaign(approver, campaign)
    # The undo window is the campaigns app's business (tested there); start now.
    Campaign.objects.filter(pk=campaign.pk).update(undo_until=timezone.now())
    campaign.refresh_from_db()
    return campaign
