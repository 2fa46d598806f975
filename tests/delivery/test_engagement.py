"""Segments' engagement conditions, compiled by delivery over real deliveries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from contacts.models import Contact
from delivery.models import Delivery
from segments import engagement
from segments.services import compile_rules
from tests.delivery.helpers import approved_campaign

pytestmark = pytest.mark.django_db


def _rules(op: str, **value) -> dict:
    return {"match": "all", "rules": [{"field": "engagement", "op": op, "value": value}]}


@pytest.fixture
def sent_campaign(sending_domain, relay, profile, customers, marketer, approver, org_a):
    from delivery import engine

    campaign = approved_campaign(marketer, approver, customers)
    engine.dispatch_due_campaigns()
    for delivery in Delivery.objects.filter(campaign=campaign):
        engine.send_one(delivery.pk)
    now = timezone.now()
    Delivery.objects.filter(campaign=campaign, address="yamada@example.jp").update(
        opened_at=now, clicked_at=now
    )
    Delivery.objects.filter(campaign=campaign, address="sato@example.jp").update(
        opened_at=now - timedelta(days=40)
    )
    return campaign


def _matching(org, rules) -> list[str]:
    q = compile_rules(org, rules)
    return sorted(Contact.objects.for_organization(org).filter(q).values_list("email", flat=True))


def test_delivery_registers_the_engagement_compiler():
    assert engagement.current().__class__.__name__ == "DeliveryEngagement"


def test_received_opened_clicked_and_never_opened(sent_campaign, org_a):
    everyone = ["sato@example.jp", "suzuki@example.jp", "yamada@example.jp"]
    assert _matching(org_a, _rules("received", campaign=sent_campaign.pk)) == everyone
    assert _matching(org_a, _rules("opened", days=3650)) == [
        "sato@example.jp",
        "yamada@example.jp",
    ]
    assert _matching(org_a, _rules("opened", days=30)) == ["yamada@example.jp"]
    assert _matching(org_a, _rules("clicked", campaign=sent_campaign.pk)) == ["yamada@example.jp"]
    assert _matching(org_a, _rules("never_opened", campaign=sent_campaign.pk)) == [
        "suzuki@example.jp"
    ]


def test_another_organisations_campaign_is_refused(sent_campaign, org_b):
    from segments.rules import RuleError

    with pytest.raises(RuleError) as error:
        compile_rules(org_b, _rules("opened", campaign=sent_campaign.pk))
    assert str(error.value) == (
        f"Condition 1 (Engagement): campaign {sent_campaign.pk} is not one of this "
        "organisation's campaigns."
    )
