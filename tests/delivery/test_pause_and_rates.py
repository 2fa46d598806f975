"""Pause, resume and cancel while a campaign is sending, and the per-relay and
per-destination-domain rate limits, through the send engine against a real STARTTLS relay,
PostgreSQL and Redis (the rate limiter's counters)."""

from __future__ import annotations

import time

import pytest

from campaigns import services
from campaigns.enums import CampaignState
from delivery import engine
from delivery.enums import DeliveryStatus
from delivery.models import Delivery

pytestmark = pytest.mark.django_db


def _rows(campaign) -> list[int]:
    return list(
        Delivery.objects.filter(campaign=campaign).order_by("pk").values_list("pk", flat=True)
    )


def _statuses(campaign) -> list[tuple[str, int]]:
    return list(
        Delivery.objects.filter(campaign=campaign).order_by("pk").values_list("status", "attempts")
    )


def _after_the_state_cache():
    # Each worker process re-reads a campaign's state at most every _STATE_TTL seconds:
    # that is the "within seconds" of a pause, resume or cancel.
    time.sleep(engine._STATE_TTL + 0.1)


def _at_the_start_of_a_second():
    time.sleep(1 - time.time() % 1 + 0.01)


def _first_sent_then(act, campaign, membership) -> list[int]:
    """Dispatch, send the first recipient, ``act`` on the campaign (pause, cancel) and
    wait until workers see it; returns the rows not sent yet."""
    engine.dispatch_due_campaigns()
    first, *rest = _rows(campaign)
    assert engine.send_one(first).status == DeliveryStatus.SENT
    act(membership, campaign)
    _after_the_state_cache()
    return rest


def test_a_paused_campaign_sends_nothing_and_resuming_sends_the_rest(ready, relay, marketer):
    rest = _first_sent_then(services.pause_campaign, ready, marketer)

    outcomes = [engine.send_one(pk) for pk in rest]

    assert [(o.status, o.detail) for o in outcomes] == [
        (DeliveryStatus.QUEUED, "campaign not sending")
    ] * 2
    assert _statuses(ready) == [
        (DeliveryStatus.SENT, 1),
        (DeliveryStatus.QUEUED, 0),
        (DeliveryStatus.QUEUED, 0),
    ]
    assert len(relay.messages) == 1

    services.resume_campaign(marketer, ready)
    _after_the_state_cache()
    assert engine.maintain()["retried"] == 2  # handed back rows are published again
    assert [engine.send_one(pk).status for pk in rest] == [DeliveryStatus.SENT] * 2
    assert sorted(m[1][0] for m in relay.messages) == [
        "sato@example.jp",
        "suzuki@example.jp",
        "yamada@example.jp",
    ]
    engine.maintain()
    ready.refresh_from_db()
    assert ready.state == CampaignState.SENT


def test_cancelling_while_sending_stops_at_the_next_recipient(ready, relay, marketer):
    rest = _first_sent_then(services.cancel_campaign, ready, marketer)

    assert [engine.send_one(pk).status for pk in rest] == [DeliveryStatus.CANCELLED] * 2
    assert [s for s, _a in _statuses(ready)] == [
        DeliveryStatus.SENT,
        DeliveryStatus.CANCELLED,
        DeliveryStatus.CANCELLED,
    ]
    assert len(relay.messages) == 1
    engine.maintain()
    ready.refresh_from_db()
    assert ready.state == CampaignState.CANCELLED


def test_the_relay_rate_holds_a_message_over_the_limit_back_to_the_next_second(
    ready, relay, settings
):
    settings.DELIVERY_RELAY_RATE = 1
    engine.dispatch_due_campaigns()
    first, second, _third = _rows(ready)
    _at_the_start_of_a_second()

    sent = engine.send_one(first)
    held = engine.send_one(second)

    assert (sent.status, held.status, held.detail) == (
        DeliveryStatus.SENT,
        DeliveryStatus.QUEUED,
        "rate limited",
    )
    # Handed back unattempted, claimable again (its task is re-published with countdown=1).
    assert Delivery.objects.values_list("status", "attempts", "next_attempt_at").get(pk=second) == (
        DeliveryStatus.QUEUED,
        0,
        None,
    )
    assert len(relay.messages) == 1
    _at_the_start_of_a_second()
    assert engine.send_one(second).status == DeliveryStatus.SENT
    assert len(relay.messages) == 2


def test_a_destination_domain_rate_applies_to_that_domain_only(
    sending_domain, relay, profile, customers, org_a, marketer, approver, settings
):
    from tests.campaigns.conftest import make_contact
    from tests.delivery.helpers import approved_campaign

    make_contact(org_a, "kato@docomo.ne.jp", customers)
    make_contact(org_a, "ito@docomo.ne.jp", customers)
    settings.DELIVERY_RELAY_RATE = 0
    settings.DELIVERY_DOMAIN_RATES = {"docomo.ne.jp": 1}
    campaign = approved_campaign(marketer, approver, customers)
    engine.dispatch_due_campaigns()
    rows = dict(Delivery.objects.filter(campaign=campaign).values_list("address", "pk"))
    _at_the_start_of_a_second()

    outcomes = {
        address: engine.send_one(rows[address]).status
        for address in [
            "ito@docomo.ne.jp",
            "kato@docomo.ne.jp",
            "sato@example.jp",
            "suzuki@example.jp",
            "yamada@example.jp",
        ]
    }

    assert outcomes == {
        "ito@docomo.ne.jp": DeliveryStatus.SENT,
        "kato@docomo.ne.jp": DeliveryStatus.QUEUED,
        "sato@example.jp": DeliveryStatus.SENT,
        "suzuki@example.jp": DeliveryStatus.SENT,
        "yamada@example.jp": DeliveryStatus.SENT,
    }
    assert sorted(m[1][0] for m in relay.messages) == [
        "ito@docomo.ne.jp",
        "sato@example.jp",
        "suzuki@example.jp",
        "yamada@example.jp",
    ]
