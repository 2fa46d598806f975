"""Restricted lists: a member without a grant sees none of their contacts, anywhere."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.enums import Action
from audit.models import AuditEntry
from contacts import services
from contacts.enums import SuppressionReason
from tests.contacts.conftest import csv_bytes, run_member_import

pytestmark = pytest.mark.django_db


@pytest.fixture
def board(admin, org_a):
    """A restricted list with one contact, next to an ordinary contact."""
    board = services.create_list(admin, "Board members", is_restricted=True)
    customers = services.create_list(admin, "Customers")
    services.create_contact(admin, services.ContactInput(email="ceo@example.jp", lists=[board]))
    services.create_contact(
        admin, services.ContactInput(email="both@example.jp", lists=[board, customers])
    )
    services.create_contact(
        admin, services.ContactInput(email="public@example.jp", lists=[customers])
    )
    services.add_suppression(org_a, "ceo@example.jp", SuppressionReason.MANUAL, source="t")
    return board


def _url(name, org, *args):
    return reverse(f"contacts:{name}", args=[org.slug, *args])


def _emails(queryset):
    return sorted(queryset.values_list("email", flat=True))


def test_without_a_grant_restricted_contacts_are_invisible_everywhere(
    board, marketer, marketer_client, org_a
):
    assert _emails(services.visible_contacts(marketer)) == ["public@example.jp"]
    page = marketer_client.get(_url("list", org_a), {"q": "example"})
    assert [c.email for c in page.context["page"]] == ["public@example.jp"]
    assert page.context["page"].paginator.count == 1
    assert b"ceo@example.jp" not in page.content and b"both@example.jp" not in page.content
    lists = marketer_client.get(_url("lists", org_a))
    assert [(cl.name, n, left) for cl, n, left in lists.context["lists"]] == [("Customers", 1, 0)]
    assert marketer_client.get(_url("list_detail", org_a, board.pk)).status_code == 403
    filtered = marketer_client.get(_url("list", org_a), {"list": board.pk})
    assert list(filtered.context["page"]) == []
    hidden = services.find_contact(org_a.pk, "ceo@example.jp")
    assert marketer_client.get(_url("detail", org_a, hidden.pk)).status_code == 404
    suppressions = marketer_client.get(_url("suppressions", org_a))
    assert b"ceo@example.jp" not in suppressions.content
    export = marketer_client.get(_url("export", org_a))
    assert export.context["count"] == 1


def test_export_leaves_out_restricted_contacts(board, marketer, org_a):
    from contacts.exporting import export_contacts
    from contacts.models import Contact

    result = export_contacts(marketer, Contact.objects.all())
    text = result.file.read().decode("utf-8-sig")
    assert "public@example.jp" in text
    assert "ceo@example.jp" not in text and "both@example.jp" not in text
    assert result.rows == 1


def test_a_view_grant_shows_the_list_but_does_not_allow_changes(
    board, admin, admin_client, marketer, marketer_client, org_a
):
    response = admin_client.post(
        _url("list_grants", org_a, board.pk), {"member": marketer.pk, "level": "view"}
    )
    assert response.status_code == 302
    entry = AuditEntry.objects.get(action=Action.CONTACT_LIST_GRANT_CHANGED)
    assert entry.details == {"email": "marketer@a.example", "before": "none", "after": "view"}
    assert _emails(services.visible_contacts(marketer)) == [
        "both@example.jp",
        "ceo@example.jp",
        "public@example.jp",
    ]
    assert marketer_client.get(_url("list_detail", org_a, board.pk)).status_code == 200
    ceo = services.find_contact(org_a.pk, "ceo@example.jp")
    assert marketer_client.get(_url("detail", org_a, ceo.pk)).status_code == 200
    assert marketer_client.get(_url("edit", org_a, ceo.pk)).status_code == 403
    job = run_member_import(marketer, csv_bytes([["email", "company"], ["both@example.jp", "X"]]))
    assert job.counts["rejected"] == 1


def test_an_edit_grant_allows_changes(board, admin, marketer, marketer_client, org_a):
    services.set_list_grant(admin, board, marketer, "edit")
    both = services.find_contact(org_a.pk, "both@example.jp")
    response = marketer_client.post(
        _url("edit", org_a, both.pk),
        {"email": "both@example.jp", "company": "Changed", "consent_method": "web_form"},
    )
    assert response.status_code == 302
    both.refresh_from_db()
    assert both.company == "Changed"


def test_a_viewer_sees_only_what_a_grant_allows(board, admin, viewer, viewer_client, org_a):
    assert viewer_client.get(_url("list", org_a)).status_code == 403
    services.set_list_grant(admin, board, viewer, "view")
    assert _emails(services.visible_contacts(viewer)) == ["both@example.jp", "ceo@example.jp"]
    page = viewer_client.get(_url("list", org_a))
    assert [c.email for c in page.context["page"]] == ["both@example.jp", "ceo@example.jp"]
    assert viewer_client.get(_url("export", org_a)).status_code == 403
    assert viewer_client.get(_url("imports", org_a)).status_code == 403


def test_grant_to_a_role_sets_every_current_member(board, admin, admin_client, marketer, org_a):
    from accounts.enums import Role
    from tests.factories import make_member

    second = make_member(org_a, Role.MARKETER, "second@a.example")
    response = admin_client.post(
        _url("list_grants", org_a, board.pk), {"role": "marketer", "level": "edit"}
    )
    assert response.status_code == 302
    assert services.grant_level(marketer.user, board) == "edit"
    assert services.grant_level(second.user, board) == "edit"
    assert AuditEntry.objects.filter(action=Action.CONTACT_LIST_GRANT_CHANGED).count() == 2


def test_only_admins_restrict_lists_and_manage_grants(marketer, marketer_client, org_a, board):
    response = marketer_client.post(_url("lists", org_a), {"name": "Mine", "is_restricted": "on"})
    assert response.status_code == 403
    response = marketer_client.post(
        _url("list_grants", org_a, board.pk), {"member": marketer.pk, "level": "edit"}
    )
    assert response.status_code == 403
    assert services.grant_level(marketer.user, board) == "none"


def test_admins_see_everything(board, admin):
    assert len(_emails(services.visible_contacts(admin))) == 3


def test_suppressions_of_hidden_contacts_are_hidden_alike_on_the_page_and_in_the_api(
    board, admin, marketer, marketer_client, org_a
):
    from tests.api.conftest import api_for

    services.add_suppression(org_a, "Both@Example.jp", SuppressionReason.MANUAL, source="t")
    services.add_suppression(org_a, "nobody@example.jp", SuppressionReason.MANUAL, source="t")

    for_marketer = sorted(services.visible_suppressions(marketer).values_list("address", flat=True))
    for_admin = sorted(services.visible_suppressions(admin).values_list("address", flat=True))
    page = marketer_client.get(_url("suppressions", org_a))
    api = api_for(marketer, ["read"]).get("suppressions/").json()["results"]

    assert for_marketer == ["nobody@example.jp"]
    assert for_admin == ["Both@example.jp", "ceo@example.jp", "nobody@example.jp"]
    assert sorted(s.address for s in page.context["page"]) == for_marketer
    assert sorted(item["address"] for item in api) == for_marketer
