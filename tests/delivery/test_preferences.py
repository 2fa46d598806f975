"""The preference page behind each message's unsubscribe link: leave some lists, or stop
all mail (the RFC 8058 one-click POST is unchanged)."""

from __future__ import annotations

import pytest
from django.test import Client

from audit.models import AuditEntry
from contacts.models import ListMembership, Suppression
from delivery import engine
from delivery.models import Delivery, DeliveryEvent
from segments.services import audience_contacts
from tests.campaigns.conftest import make_contact, make_list
from tests.delivery.helpers import approved_campaign, one_click_unsubscribe


@pytest.fixture
def events(org_a, customers):
    """A second list of org_a with yamada and sato on it (suzuki is only a customer)."""
    events = make_list(org_a, "Events")
    for membership in ListMembership.objects.filter(
        contact_list=customers, contact__email__in=["yamada@example.jp", "sato@example.jp"]
    ):
        ListMembership.objects.create(
            organization=org_a, contact_id=membership.contact_id, contact_list=events
        )
    return events


@pytest.fixture
def sent(ready, events):
    """The approved campaign sent to the three customers: {address: delivery}."""
    engine.dispatch_due_campaigns()
    for pk in Delivery.objects.filter(campaign=ready).values_list("pk", flat=True):
        assert engine.send_one(pk).status == "sent"
    return {d.address: d for d in Delivery.objects.filter(campaign=ready)}


@pytest.fixture
def foreign_list(org_b):
    """A list of another organisation, with a contact of the same address on it."""
    contact_list = make_list(org_b, "Customers")
    make_contact(org_b, "yamada@example.jp", contact_list)
    return contact_list


def _membership(contact_list, address: str) -> ListMembership:
    return ListMembership.objects.get(contact_list=contact_list, contact__email=address)


def _audience(organization, contact_list) -> list[str]:
    contacts = audience_contacts(organization, include_lists=[contact_list])
    return sorted(contacts.values_list("email", flat=True))


def _unsubscribe_entries():
    return list(
        AuditEntry.objects.filter(action__in=["list_unsubscribed", "unsubscribed"]).order_by("pk")
    )


def test_the_page_shows_the_subscribed_lists_and_changes_nothing(sent, customers, events, org_a):
    delivery = sent["yamada@example.jp"]
    other = make_list(org_a, "Not mine")  # a list of the organisation yamada is not on
    ListMembership.objects.filter(contact_list=events, contact__email="sato@example.jp").update(
        unsubscribed_at="2025-01-01T00:00:00Z"
    )

    yamada = Client().get(f"/u/{delivery.token}/")
    sato = Client().get(f"/u/{sent['sato@example.jp'].token}/")

    assert (yamada.status_code, sato.status_code) == (200, 200)
    assert [cl.name for cl in yamada.context["lists"]] == ["Customers", "Events"]
    assert [cl.name for cl in sato.context["lists"]] == ["Customers"]  # left Events already
    page = yamada.content.decode()
    assert f'name="list" value="{customers.pk}"' in page
    assert f'name="list" value="{events.pk}"' in page
    assert f'value="{other.pk}"' not in page
    assert "Leave the ticked lists" in page
    assert "Stop mail from" in page
    assert not ListMembership.objects.filter(
        contact__email="yamada@example.jp", unsubscribed_at__isnull=False
    ).exists()
    assert not DeliveryEvent.objects.filter(kind="unsubscribe").exists()
    assert _unsubscribe_entries() == []


def test_leaving_one_of_two_lists_keeps_the_other(sent, customers, events, org_a):
    delivery = sent["yamada@example.jp"]

    response = Client().post(f"/u/{delivery.token}/", {"action": "lists", "list": [str(events.pk)]})

    assert response.status_code == 200
    assert [cl.name for cl in response.context["left"]] == ["Events"]
    assert [cl.name for cl in response.context["lists"]] == ["Customers"]
    assert "You have left these lists: Events" in response.content.decode()
    assert _membership(events, "yamada@example.jp").unsubscribed_at is not None
    assert _membership(customers, "yamada@example.jp").unsubscribed_at is None
    assert _membership(events, "sato@example.jp").unsubscribed_at is None
    assert _audience(org_a, events) == ["sato@example.jp"]
    assert _audience(org_a, customers) == [
        "sato@example.jp",
        "suzuki@example.jp",
        "yamada@example.jp",
    ]
    # Not a whole-address unsubscribe: no suppression, the delivery is not marked.
    assert not Suppression.objects.filter(organization=org_a).exists()
    delivery.refresh_from_db()
    assert delivery.unsubscribed_at is None


def test_leaving_lists_writes_one_event_and_one_audit_entry(sent, customers, events, org_a):
    delivery = sent["yamada@example.jp"]

    Client().post(
        f"/u/{delivery.token}/",
        {"action": "lists", "list": [str(events.pk), str(customers.pk)]},
        HTTP_USER_AGENT="Mail reader",
    )
    again = Client().post(f"/u/{delivery.token}/", {"action": "lists", "list": [str(events.pk)]})

    assert again.status_code == 200  # a second submit of the same page is harmless
    event = DeliveryEvent.objects.get(kind="unsubscribe")
    assert (event.delivery_id, event.organization_id, event.detail, event.user_agent) == (
        delivery.pk,
        org_a.pk,
        "lists: Customers, Events",
        "Mail reader",
    )
    [entry] = _unsubscribe_entries()
    assert (entry.action, entry.actor_label, entry.actor, entry.organization) == (
        "list_unsubscribed",
        "yamada@example.jp",
        None,
        org_a,
    )
    assert entry.details["campaign_id"] == delivery.campaign_id
    assert entry.details["lists"] == [
        {"id": customers.pk, "name": "Customers"},
        {"id": events.pk, "name": "Events"},
    ]
    assert entry.target_id == str(delivery.contact_id)


@pytest.mark.parametrize("value", ["", "abc", "1; DROP TABLE x", "-1", "\u0661", "9" * 40])
def test_garbage_list_ids_are_refused(sent, events, value):
    delivery = sent["yamada@example.jp"]

    response = Client().post(
        f"/u/{delivery.token}/", {"action": "lists", "list": [str(events.pk), value]}
    )

    assert response.status_code == 400
    assert response.context["error"] == "One of the chosen lists is not yours to change."
    assert "One of the chosen lists is not yours to change." in response.content.decode()
    assert not ListMembership.objects.filter(unsubscribed_at__isnull=False).exists()
    assert not DeliveryEvent.objects.filter(kind="unsubscribe").exists()
    assert _unsubscribe_entries() == []


def test_another_organisations_list_cannot_be_left_through_our_token(
    sent, events, foreign_list, org_b
):
    delivery = sent["yamada@example.jp"]
    foreign = _membership(foreign_list, "yamada@example.jp")

    response = Client().post(
        f"/u/{delivery.token}/", {"action": "lists", "list": [str(events.pk), str(foreign_list.pk)]}
    )

    assert response.status_code == 400
    assert response.context["error"] == "One of the chosen lists is not yours to change."
    assert "Customers" not in [cl.name for cl in response.context.get("left", [])]
    foreign.refresh_from_db()
    assert foreign.unsubscribed_at is None
    assert not ListMembership.objects.filter(unsubscribed_at__isnull=False).exists()
    assert not AuditEntry.objects.filter(organization=org_b, action="list_unsubscribed").exists()
    assert _unsubscribe_entries() == []


def test_a_restricted_list_is_neither_shown_nor_left_through_the_page(sent, org_a):
    delivery = sent["yamada@example.jp"]
    restricted = make_list(org_a, "Complaints follow-up")
    restricted.is_restricted = True
    restricted.save()
    ListMembership.objects.create(
        organization=org_a, contact_id=delivery.contact_id, contact_list=restricted
    )

    page = Client().get(f"/u/{delivery.token}/")
    forged = Client().post(f"/u/{delivery.token}/", {"action": "lists", "list": [restricted.pk]})

    assert [cl.name for cl in page.context["lists"]] == ["Customers", "Events"]
    assert "Complaints follow-up" not in page.content.decode()
    assert forged.status_code == 400
    assert forged.context["error"] == "One of the chosen lists is not yours to change."
    assert "Complaints follow-up" not in forged.content.decode()
    assert _membership(restricted, "yamada@example.jp").unsubscribed_at is None
    assert _unsubscribe_entries() == []


def test_a_list_the_contact_is_not_on_cannot_be_left(sent, events):
    delivery = sent["suzuki@example.jp"]  # suzuki is a customer, not on Events

    response = Client().post(f"/u/{delivery.token}/", {"action": "lists", "list": [events.pk]})

    assert response.status_code == 400
    assert response.context["error"] == "One of the chosen lists is not yours to change."
    assert not ListMembership.objects.filter(unsubscribed_at__isnull=False).exists()


def test_leaving_with_nothing_ticked_says_so(sent):
    delivery = sent["yamada@example.jp"]

    response = Client().post(f"/u/{delivery.token}/", {"action": "lists"})

    assert response.status_code == 400
    assert response.context["error"] == "Tick the lists you want to leave."
    assert "Tick the lists you want to leave." in response.content.decode()
    assert not ListMembership.objects.filter(unsubscribed_at__isnull=False).exists()
    assert _unsubscribe_entries() == []


def test_the_page_is_in_japanese(sent, events):
    delivery = sent["yamada@example.jp"]

    response = Client().get(f"/u/{delivery.token}/", HTTP_ACCEPT_LANGUAGE="ja")

    page = response.content.decode()
    assert "チェックしたリストの配信を停止する" in page
    assert "配信設定" in page


def test_one_click_post_still_suppresses_the_whole_address(sent, events, org_a):
    delivery = sent["yamada@example.jp"]

    one_click_unsubscribe(delivery.token)

    suppression = Suppression.objects.active().get(organization=org_a)
    assert (suppression.address, suppression.reason) == ("yamada@example.jp", "unsubscribed")
    [entry] = _unsubscribe_entries()
    assert (entry.action, entry.details["one_click"]) == ("unsubscribed", True)
    # List memberships are left as they were: the suppression covers every list.
    assert not ListMembership.objects.filter(unsubscribed_at__isnull=False).exists()


def test_one_click_wins_over_a_lists_action_in_the_same_post(sent, events, org_a):
    delivery = sent["yamada@example.jp"]

    response = Client().post(
        f"/u/{delivery.token}/",
        {"List-Unsubscribe": "One-Click", "action": "lists", "list": [events.pk]},
    )

    assert (response.status_code, response.content) == (200, b"unsubscribed\n")
    assert Suppression.objects.active().filter(organization=org_a).count() == 1
    assert not ListMembership.objects.filter(unsubscribed_at__isnull=False).exists()


def test_the_page_button_still_stops_all_mail(sent, events, org_a):
    delivery = sent["yamada@example.jp"]

    response = Client().post(f"/u/{delivery.token}/")

    assert response.status_code == 200
    assert "yamada@example.jp no longer receives mail from" in response.content.decode()
    assert Suppression.objects.active().filter(organization=org_a).count() == 1
    assert [e.action for e in _unsubscribe_entries()] == ["unsubscribed"]


@pytest.mark.parametrize("token", ["0" * 32, "not-a-token"])
def test_an_unknown_token_is_not_found(sent, events, token):
    get = Client().get(f"/u/{token}/")
    post = Client().post(f"/u/{token}/", {"action": "lists", "list": [events.pk]})

    assert (get.status_code, post.status_code) == (404, 404)
    assert not ListMembership.objects.filter(unsubscribed_at__isnull=False).exists()


def test_a_left_list_is_not_in_the_next_campaign(sent, events, marketer, approver, relay):
    Client().post(
        f"/u/{sent['yamada@example.jp'].token}/", {"action": "lists", "list": [events.pk]}
    )
    second = approved_campaign(marketer, approver, events, name="Event news")

    engine.dispatch_due_campaigns()

    assert sorted(Delivery.objects.filter(campaign=second).values_list("address", flat=True)) == [
        "sato@example.jp"
    ]
