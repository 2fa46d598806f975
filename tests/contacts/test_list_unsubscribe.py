"""A person who left a list from a message (``ListMembership.unsubscribed_at``) stays out
of it: no import, API upsert, contact form or list edit puts them back, and list counts
and member pages no longer count them."""

from __future__ import annotations

import zoneinfo

import pytest

from contacts import services
from contacts.enums import ContactEventKind
from contacts.models import ContactEvent, ListMembership
from segments.services import audience_contacts
from tests.api.conftest import api_for
from tests.campaigns.conftest import make_contact, make_list
from tests.contacts.conftest import csv_bytes, run_import, run_member_import

pytestmark = pytest.mark.django_db


@pytest.fixture
def lists(org_a):
    """News and Events; yamada is on both, sato on both, and yamada has left News."""
    news, events = make_list(org_a, "News"), make_list(org_a, "Events")
    for address in ("yamada@example.jp", "sato@example.jp"):
        contact = make_contact(org_a, address, news)
        ListMembership.objects.create(organization=org_a, contact=contact, contact_list=events)
    yamada = services.find_contact(org_a.pk, "yamada@example.jp")
    assert [cl.name for cl in services.leave_lists(yamada, [news.pk], actor_label="y")] == ["News"]
    return news, events


def _left(contact_list) -> list[str]:
    return sorted(
        ListMembership.objects.filter(
            contact_list=contact_list, unsubscribed_at__isnull=False
        ).values_list("contact__email", flat=True)
    )


def _audience(org, contact_list) -> list[str]:
    return sorted(
        audience_contacts(org, include_lists=[contact_list]).values_list("email", flat=True)
    )


def test_leave_lists_marks_the_membership_and_writes_history(lists, org_a):
    news, events = lists
    yamada = services.find_contact(org_a.pk, "yamada@example.jp")

    again = services.leave_lists(yamada, [news.pk], actor_label="y")

    assert again == []  # already left: nothing more happens
    assert _left(news) == ["yamada@example.jp"]
    assert _left(events) == []
    assert list(
        ContactEvent.objects.filter(kind=ContactEventKind.LIST_UNSUBSCRIBED).values_list(
            "contact__email", "actor_label", "details"
        )
    ) == [("yamada@example.jp", "y", {"list": "News"})]
    assert [cl.name for cl in services.subscribed_lists(yamada)] == ["Events"]


def test_a_left_list_is_not_in_the_audience_but_the_other_is(lists, org_a):
    news, events = lists

    assert _audience(org_a, news) == ["sato@example.jp"]
    assert _audience(org_a, events) == ["sato@example.jp", "yamada@example.jp"]


def test_leaving_an_excluded_list_does_not_let_mail_through(lists, org_a):
    news, events = lists

    audience = audience_contacts(org_a, include_lists=[events], exclude_lists=[news])

    assert list(audience.values_list("email", flat=True)) == []


def test_csv_reimport_naming_the_list_keeps_the_person_out(lists, org_a, engine):
    news, _events = lists
    data = csv_bytes(
        [["email", "last_name"], ["yamada@example.jp", "山田"], ["new@example.jp", ""]]
    )

    job = run_import(org_a, data, list_name="News")

    assert job.status == "done"
    assert _left(news) == ["yamada@example.jp"]
    assert _audience(org_a, news) == ["new@example.jp", "sato@example.jp"]
    assert job.counts["added_to_list"] == 1  # only the new contact


def test_member_import_into_the_list_keeps_the_person_out(lists, org_a, marketer, engine):
    news, _events = lists
    data = csv_bytes([["email"], ["yamada@example.jp"]])

    job = run_member_import(marketer, data, contact_list=news)

    assert job.status == "done"
    assert _left(news) == ["yamada@example.jp"]
    assert _audience(org_a, news) == ["sato@example.jp"]


def test_api_upsert_naming_the_list_keeps_the_person_out(lists, org_a, marketer):
    news, _events = lists

    response = api_for(marketer).post(
        "contacts/bulk/",
        {"contacts": [{"email": "yamada@example.jp", "first_name": "太郎"}], "list": news.pk},
    )

    assert response.status_code == 200, response.content
    assert [r["result"] for r in response.json()["results"]] == ["updated"]
    assert services.find_contact(org_a.pk, "yamada@example.jp").first_name == "太郎"
    assert _left(news) == ["yamada@example.jp"]
    assert _audience(org_a, news) == ["sato@example.jp"]


def test_the_contact_form_neither_resubscribes_nor_forgets(lists, org_a, marketer):
    news, events = lists
    yamada = services.find_contact(org_a.pk, "yamada@example.jp")
    data = services.ContactInput(email=yamada.email, consent_method=yamada.consent_method)

    data.lists = [news, events]
    assert services.update_contact(marketer, yamada, data) == []
    data.lists = [events]
    assert services.update_contact(marketer, yamada, data) == []

    assert _left(news) == ["yamada@example.jp"]
    assert _audience(org_a, news) == ["sato@example.jp"]


def test_list_member_changes_leave_a_left_member_alone(lists, org_a, marketer):
    news, _events = lists
    yamada = services.find_contact(org_a.pk, "yamada@example.jp")

    added = services.change_list_members(marketer, news, add=[yamada])
    removed = services.change_list_members(marketer, news, remove=[yamada])

    assert (added, removed) == ((0, 0), (0, 0))
    assert _left(news) == ["yamada@example.jp"]


def test_list_counts_and_members_leave_out_who_left(lists, org_a, marketer_client):
    news, _events = lists

    overview = marketer_client.get(f"/o/{org_a.slug}/contacts/lists/")
    members = marketer_client.get(f"/o/{org_a.slug}/contacts/lists/{news.pk}/")

    assert overview.status_code == 200
    assert [(cl.name, count, left) for cl, count, left in overview.context["lists"]] == [
        ("Events", 2, 0),
        ("News", 1, 1),
    ]
    assert "(1 left the list)" in overview.content.decode()
    assert [c.email for c in members.context["page"]] == ["sato@example.jp"]


def test_the_contact_page_marks_a_left_list(lists, org_a, marketer_client):
    news, _events = lists
    yamada = services.find_contact(org_a.pk, "yamada@example.jp")
    when = ListMembership.objects.get(contact=yamada, contact_list=news).unsubscribed_at

    page = marketer_client.get(f"/o/{org_a.slug}/contacts/{yamada.pk}/")

    local = when.astimezone(zoneinfo.ZoneInfo(org_a.time_zone)).strftime("%Y-%m-%d %H:%M")
    assert f"(left the list on {local})" in page.content.decode()


def test_the_api_shows_subscribed_and_left_lists_apart(lists, org_a, marketer):
    news, events = lists
    api = api_for(marketer)
    yamada = services.find_contact(org_a.pk, "yamada@example.jp")

    one = api.get(f"contacts/{yamada.pk}/").json()
    listing = {c["email"]: c for c in api.get("contacts/").json()["results"]}

    assert (one["lists"], one["left_lists"]) == ([events.pk], [news.pk])
    assert (listing["yamada@example.jp"]["lists"], listing["yamada@example.jp"]["left_lists"]) == (
        [events.pk],
        [news.pk],
    )
    assert (listing["sato@example.jp"]["lists"], listing["sato@example.jp"]["left_lists"]) == (
        sorted([news.pk, events.pk]),
        [],
    )
    # Writing back what was read (a sync job's round trip) neither resubscribes nor forgets.
    written = api.patch(f"contacts/{yamada.pk}/", {"lists": one["lists"] + one["left_lists"]})
    assert written.status_code == 200, written.content
    assert (written.json()["lists"], written.json()["left_lists"]) == ([events.pk], [news.pk])
    assert _left(news) == ["yamada@example.jp"]
