"""Contacts, lists, suppressions and custom fields through the API: the same rules and
audit entries as the pages."""

from __future__ import annotations

from guardian.shortcuts import assign_perm

from audit.enums import Action
from audit.models import AuditEntry
from contacts import services
from contacts.enums import ContactStatus
from contacts.models import Contact, CustomField, ListMembership, Suppression
from tests.campaigns.conftest import make_contact, make_list


def test_list_filters_and_pages_in_id_order(marketer_api, org_a, customers):
    make_contact(org_a, "tanaka@example.jp", company="Tanaka Co")

    first = marketer_api.get("contacts/", {"page_size": 2})
    second = marketer_api.get(first.json()["next"])
    by_list = marketer_api.get("contacts/", {"list": customers.pk})
    by_query = marketer_api.get("contacts/", {"q": "tanaka"})
    by_email = marketer_api.get("contacts/", {"email": "SATO@example.jp"})

    assert [c["email"] for c in first.json()["results"]] == [
        "yamada@example.jp",
        "sato@example.jp",
    ]
    assert [c["email"] for c in second.json()["results"]] == ["tanaka@example.jp"]
    assert second.json()["next"] is None
    assert len(by_list.json()["results"]) == 2
    assert [c["email"] for c in by_query.json()["results"]] == ["tanaka@example.jp"]
    assert [c["email"] for c in by_email.json()["results"]] == ["sato@example.jp"]


def test_list_query_count_does_not_grow_with_contacts(
    marketer_api, org_a, customers, django_assert_max_num_queries
):
    for n in range(20):
        contact = make_contact(org_a, f"person{n}@example.jp", customers)
        services._tags(org_a.pk, ["vip"])
        contact.tags.set(
            services._tags(org_a.pk, ["vip"]), through_defaults={"organization": org_a}
        )

    with django_assert_max_num_queries(16):
        response = marketer_api.get("contacts/", {"page_size": 50})

    assert len(response.json()["results"]) == 22
    assert response.json()["results"][-1]["tags"] == ["vip"]


def test_invalid_filters_are_400_with_per_field_messages(marketer_api):
    response = marketer_api.get("contacts/", {"list": "abc", "status": "gone"})

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert set(body["fields"]) == {"list", "status"}


def test_restricted_lists_stay_hidden(marketer_api, org_a):
    secret = make_list(org_a, "Board", is_restricted=True)
    make_contact(org_a, "ceo@example.jp", secret)

    listing = marketer_api.get("contacts/")
    contact = Contact.objects.get(email="ceo@example.jp")

    assert listing.json()["results"] == []
    assert marketer_api.get(f"contacts/{contact.pk}/").status_code == 404
    assert marketer_api.get(f"lists/{secret.pk}/").status_code == 403
    assert [r["name"] for r in marketer_api.get("lists/").json()["results"]] == []


def test_a_granted_restricted_list_is_visible(marketer_api, marketer, org_a):
    secret = make_list(org_a, "Board", is_restricted=True)
    make_contact(org_a, "ceo@example.jp", secret)
    assign_perm("contacts.view_contactlist", marketer.user, secret)

    listing = marketer_api.get("contacts/")

    assert [(c["email"], c["lists"]) for c in listing.json()["results"]] == [
        ("ceo@example.jp", [secret.pk])
    ]


def test_create_read_update_delete_a_contact(marketer_api, org_a, customers):
    CustomField.objects.create(organization=org_a, key="plan", label="Plan", field_type="text")

    created = marketer_api.post(
        "contacts/",
        {
            "email": "Kato@Example.JP",
            "last_name": "加藤",
            "attributes": {"plan": "gold"},
            "tags": ["vip"],
            "lists": [customers.pk],
        },
    )
    assert created.status_code == 201, created.content
    contact = created.json()
    assert (contact["email"], contact["attributes"], contact["tags"], contact["lists"]) == (
        "Kato@example.jp",
        {"plan": "gold"},
        ["vip"],
        [customers.pk],
    )
    assert contact["consent_method"] == "api"
    assert contact["consent_evidence"] == "API token Sync"

    updated = marketer_api.patch(f"contacts/{contact['id']}/", {"first_name": "恵"})
    assert updated.status_code == 200
    assert (updated.json()["last_name"], updated.json()["first_name"]) == ("加藤", "恵")
    assert updated.json()["attributes"] == {"plan": "gold"}

    assert marketer_api.delete(f"contacts/{contact['id']}/").status_code == 204
    assert marketer_api.get(f"contacts/{contact['id']}/").status_code == 404
    actions = list(
        AuditEntry.objects.filter(organization=org_a, action__startswith="contact_")
        .order_by("seq")
        .values_list("action", flat=True)
    )
    assert actions == [Action.CONTACT_CREATED, Action.CONTACT_UPDATED, Action.CONTACT_DELETED]


def test_create_refuses_a_suppressed_address(marketer_api, marketer):
    services.suppress_address(marketer, "gone@example.jp", "unsubscribed")

    response = marketer_api.post("contacts/", {"email": "gone@example.jp"})

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["email"]
    assert "suppression list" in response.json()["fields"]["email"][0]
    assert not Contact.objects.filter(email="gone@example.jp").exists()


def test_create_reports_bad_fields(marketer_api, org_a):
    CustomField.objects.create(organization=org_a, key="score", label="Score", field_type="number")

    response = marketer_api.post(
        "contacts/",
        {"email": "not-an-address", "attributes": {"score": "many", "nope": "x"}},
    )

    assert response.status_code == 400
    fields = response.json()["fields"]
    assert list(fields) == ["email"]
    response = marketer_api.post(
        "contacts/", {"email": "ok@example.jp", "attributes": {"score": "many", "nope": "x"}}
    )
    assert set(response.json()["fields"]) == {"attributes.score", "attributes.nope"}


def test_lists_and_members(marketer_api, org_a, customers):
    created = marketer_api.post("lists/", {"name": "Newsletter"})
    assert created.status_code == 201
    list_id = created.json()["id"]
    contact = make_contact(org_a, "kato@example.jp")

    changed = marketer_api.post(f"lists/{list_id}/members/", {"add": [contact.pk]})

    assert changed.json() == {"added": 1, "removed": 0}
    members = marketer_api.get(f"lists/{list_id}/contacts/").json()["results"]
    assert [m["email"] for m in members] == ["kato@example.jp"]
    renamed = marketer_api.patch(f"lists/{list_id}/", {"description": "Monthly"})
    assert (renamed.json()["name"], renamed.json()["description"]) == ("Newsletter", "Monthly")
    assert marketer_api.post("lists/", {"name": "newsletter"}).status_code == 400
    assert marketer_api.delete(f"lists/{list_id}/").status_code == 204
    assert ListMembership.objects.filter(contact=contact).count() == 0


def test_only_admins_make_restricted_lists(marketer_api, admin_api):
    assert marketer_api.post("lists/", {"name": "Secret", "is_restricted": True}).status_code == 403
    assert admin_api.post("lists/", {"name": "Secret", "is_restricted": True}).status_code == 201


def test_suppressions_read_and_add(marketer_api, org_a, customers):
    added = marketer_api.post("suppressions/", {"address": "yamada@example.jp"})
    again = marketer_api.post("suppressions/", {"address": "YAMADA@example.jp"})

    assert added.status_code == 201
    assert again.status_code == 200
    assert again.json()["id"] == added.json()["id"]
    assert Contact.objects.get(email="yamada@example.jp").status == ContactStatus.UNSUBSCRIBED
    listed = marketer_api.get("suppressions/").json()["results"]
    assert [(s["address"], s["reason"], s["is_active"]) for s in listed] == [
        ("yamada@example.jp", "manual", True)
    ]
    bad = marketer_api.post("suppressions/", {"address": "nobody"})
    assert bad.status_code == 400 and list(bad.json()["fields"]) == ["address"]


def test_custom_fields_need_org_manage_to_change(marketer_api, admin_api, org_a):
    refused = marketer_api.post(
        "fields/", {"key": "plan", "label": "Plan", "field_type": "choice", "choices": ["a"]}
    )
    created = admin_api.post(
        "fields/", {"key": "plan", "label": "Plan", "field_type": "choice", "choices": ["a", "b"]}
    )

    assert refused.status_code == 403
    assert created.status_code == 201
    field_id = created.json()["id"]
    assert [f["key"] for f in marketer_api.get("fields/").json()["results"]] == ["plan"]
    changed = admin_api.patch(f"fields/{field_id}/", {"label": "料金プラン"})
    assert (changed.json()["label"], changed.json()["choices"]) == ("料金プラン", ["a", "b"])
    assert marketer_api.delete(f"fields/{field_id}/").status_code == 403
    assert admin_api.delete(f"fields/{field_id}/").status_code == 204
    assert not CustomField.objects.exists()


def test_viewer_cannot_read_contacts(viewer, customers):
    from tests.api.conftest import api_for

    api = api_for(viewer, scopes=["read"])

    assert api.get("contacts/").status_code == 403
    assert api.get("suppressions/").status_code == 403


def test_suppressions_of_hidden_contacts_stay_hidden(marketer_api, admin, org_a):
    secret = make_list(org_a, "Board", is_restricted=True)
    make_contact(org_a, "ceo@example.jp", secret)
    services.suppress_address(admin, "ceo@example.jp")

    listed = marketer_api.get("suppressions/").json()["results"]

    assert listed == []
    assert Suppression.objects.count() == 1
