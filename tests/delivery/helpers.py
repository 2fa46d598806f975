"""Helpers shared by the delivery tests."""

from __future__ import annotations

from django.test import Client
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


def one_click_unsubscribe(token: str):
    """The RFC 8058 POST a mailbox provider sends: no cookie, no CSRF token, the body
    ``List-Unsubscribe=One-Click``. Returns the response; asserts what every such
    response must be (200, a text body, no redirect, no cookie)."""
    response = Client(enforce_csrf_checks=True).post(
        f"/u/{token}/",
        "List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert (response.status_code, response.content, response.get("Location")) == (
        200,
        b"unsubscribed\n",
        None,
    )
    assert response["Content-Type"].startswith("text/plain")
    assert not response.cookies  # nothing set, nothing needed
    return response
