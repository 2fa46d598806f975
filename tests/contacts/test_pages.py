"""Contacts pages: search, filters, pagination, forms, history, escaping."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.enums import Action
from audit.models import AuditEntry
from contacts import services
from contacts.enums import ContactStatus, FieldType, SuppressionReason
from contacts.models import Contact, ContactEvent, Suppression
from tests.contacts.conftest import csv_bytes, run_import

pytestmark = pytest.mark.django_db

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'
ESCAPED = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"


def _url(name, org, *args, **query):
    url = reverse(f"contacts:{name}", args=[org.slug, *args])
    if query:
        from urllib.parse import urlencode

        url += "?" + urlencode(query)
    return url


def _add(admin, email, **fields):
    return services.create_contact(admin, services.ContactInput(email=email, **fields))


def test_search_matches_email_and_names_and_filters_combine(admin, admin_client, org_a):
    vip = services.create_list(admin, "VIP")
    _add(
        admin, "taro@example.jp", last_name="山田", first_name="太郎", tags=["展示会"], lists=[vip]
    )
    _add(admin, "hanako@example.jp", last_name="山田", first_name="花子")
    _add(admin, "jiro@example.jp", last_name="鈴木", company="山田商事")
    services.suppress_address(admin, "hanako@example.jp", SuppressionReason.UNSUBSCRIBED)

    def emails(**query):
        response = admin_client.get(_url("list", org_a, **query))
        assert response.status_code == 200
        return [c.email for c in response.context["page"]]

    assert emails(q="山田") == ["hanako@example.jp", "jiro@example.jp", "taro@example.jp"]
    assert emails(q="山田 太郎") == ["taro@example.jp"]
    assert emails(q="HANAKO@") == ["hanako@example.jp"]
    assert emails(list=vip.pk) == ["taro@example.jp"]
    assert emails(tag="展示会") == ["taro@example.jp"]
    assert emails(status=ContactStatus.UNSUBSCRIBED) == ["hanako@example.jp"]
    assert emails(q="山田", status=ContactStatus.SUBSCRIBED) == [
        "jiro@example.jp",
        "taro@example.jp",
    ]


def test_contact_list_pages_by_fifty(admin_client, org_a):
    run_import(org_a, csv_bytes([["email"], *[[f"u{i:03}@example.jp"] for i in range(120)]]))
    first = admin_client.get(_url("list", org_a))
    assert [c.email for c in first.context["page"]][:2] == ["u000@example.jp", "u001@example.jp"]
    assert len(first.context["page"]) == 50
    third = admin_client.get(_url("list", org_a, page=3))
    assert [c.email for c in third.context["page"]] == [
        f"u{i:03}@example.jp" for i in range(100, 120)
    ]
    assert b"Page 3 of 3" in third.content


def _seed(org, admin, count, restricted):
    tags = ",".join(["a", "b", "c"])
    run_import(
        org,
        csv_bytes([["email", "tags"], *[[f"p{i}@example.jp", tags] for i in range(count)]]),
        list_name="Imported",
    )


@pytest.mark.parametrize("count", [3, 30])
def test_contact_list_query_count_is_pinned(
    count, marketer, marketer_client, admin, org_a, django_assert_num_queries
):
    # A restricted list the marketer has no grant for exercises the visibility filter.
    secret = services.create_list(admin, "Secret", is_restricted=True)
    _add(admin, "hidden@example.jp", lists=[secret])
    _seed(org_a, admin, count, secret)
    marketer_client.get(_url("list", org_a))  # warm up: the session's activity stamp is written
    # session, user, 2FA device, membership, list grants, visible lists, tags (filter),
    # restricted lists, count, the nav's memberships, the page, its tags.
    with django_assert_num_queries(12):
        response = marketer_client.get(_url("list", org_a, q="example", tag="a"))
    assert response.status_code == 200
    assert len(response.context["page"]) == count


def test_html_in_names_is_escaped_on_every_page(admin, admin_client, org_a):
    contact_list = services.create_list(admin, XSS)
    contact = _add(
        admin,
        "x@example.jp",
        last_name=XSS,
        company=XSS,
        tags=[XSS[:90]],
        lists=[contact_list],
        consent_evidence=XSS,
    )
    services.create_custom_field(admin, key="memo", label=XSS, field_type=FieldType.TEXT)
    services.update_contact(
        admin,
        contact,
        services.ContactInput(
            email="x@example.jp",
            last_name=XSS,
            company=XSS,
            lists=[contact_list],
            attributes={"memo": XSS},
            consent_evidence=XSS,
        ),
    )
    services.add_suppression(org_a, "x@example.jp", SuppressionReason.MANUAL, source=XSS)
    pages = [
        _url("list", org_a),
        _url("detail", org_a, contact.pk),
        _url("edit", org_a, contact.pk),
        _url("lists", org_a),
        _url("list_detail", org_a, contact_list.pk),
        _url("list_grants", org_a, contact_list.pk),
        _url("fields", org_a),
        _url("suppressions", org_a),
    ]
    for page in pages:
        body = admin_client.get(page).content.decode()
        assert "<script>alert" not in body, page
        assert "onerror=alert(1)>" not in body.replace(ESCAPED, ""), page
    detail = admin_client.get(_url("detail", org_a, contact.pk)).content.decode()
    assert ESCAPED in detail


def test_html_in_an_imported_file_is_escaped_in_preview_and_report(marketer_client, org_a):
    data = csv_bytes([["email", "姓"], [XSS, XSS], ["ok@example.jp", XSS]], encoding="cp932")
    upload = _upload(marketer_client, org_a, data)
    body = marketer_client.get(upload.url).content.decode()
    assert "<script>alert" not in body
    assert ESCAPED in body
    response = marketer_client.post(upload.url, _mapping_post(marketer_client, upload.url))
    body = marketer_client.get(response.url).content.decode()
    assert "<script>alert" not in body
    assert ESCAPED in body  # the rejected value in the report sample


def _upload(client, org, data, name="contacts.csv"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post(_url("imports", org), {"file": SimpleUploadedFile(name, data)})


def _mapping_post(client, url, **overrides):
    form = client.get(url).context["form"]
    data = {name: form[name].value() for name in form.fields}
    data = {k: v for k, v in data.items() if v is not None and v is not False}
    data.update(overrides)
    return data


def test_contact_form_creates_updates_and_deletes_with_audit_and_history(
    admin, admin_client, org_a
):
    services.create_custom_field(admin, key="birthday", label="誕生日", field_type=FieldType.DATE)
    vip = services.create_list(admin, "VIP")
    response = admin_client.post(
        _url("create", org_a),
        {
            "email": "Taro@Example.JP",
            "last_name": "山田",
            "first_name": "太郎",
            "tags": "展示会、VIP",
            "lists": [vip.pk],
            "consent_method": "web_form",
            "consent_evidence": "「ニュースレターを受け取る」にチェック",
            "attr_birthday": "1990-04-01",
        },
    )
    contact = Contact.objects.get(organization=org_a)
    assert response.status_code == 302
    assert response.url == _url("detail", org_a, contact.pk)
    assert contact.email == "Taro@example.jp"
    assert contact.attributes == {"birthday": "1990-04-01"}
    assert sorted(contact.tags.values_list("name", flat=True)) == ["VIP", "展示会"]
    assert list(contact.lists.values_list("name", flat=True)) == ["VIP"]

    response = admin_client.post(
        _url("edit", org_a, contact.pk),
        {
            "email": "taro@example.jp",
            "last_name": "山田",
            "first_name": "太郎",
            "company": "たより",
            "consent_method": "web_form",
            "attr_birthday": "1990-04-02",
        },
    )
    assert response.status_code == 302
    contact.refresh_from_db()
    assert (contact.company, contact.attributes["birthday"]) == ("たより", "1990-04-02")
    assert list(contact.lists.all()) == []
    updated = AuditEntry.objects.get(action=Action.CONTACT_UPDATED)
    assert updated.details["fields"] == [
        "email",
        "company",
        "consent_evidence",
        "attributes",
        "tags",
        "lists",
    ]

    detail = admin_client.get(_url("detail", org_a, contact.pk))
    whats = [item["what"] for item in detail.context["history"]]
    assert "Removed from list" in whats and "Created" in whats and "contact_updated" in whats

    response = admin_client.post(_url("delete", org_a, contact.pk))
    assert response.status_code == 302
    assert not Contact.objects.exists()
    deleted = AuditEntry.objects.get(action=Action.CONTACT_DELETED)
    assert deleted.details == {"contact_id": contact.pk, "email": "taro@example.jp"}


def test_contact_form_shows_specific_errors(admin, admin_client, org_a):
    _add(admin, "taken@example.jp")
    services.add_suppression(org_a, "stop@example.jp", SuppressionReason.COMPLAINT, source="t")
    services.create_custom_field(admin, key="n", label="Number", field_type=FieldType.NUMBER)
    base = {"consent_method": "web_form"}
    cases = [
        ({"email": "not an address"}, "Not a valid e-mail address"),
        ({"email": "TAKEN@example.jp"}, "A contact with this address already exists."),
        ({"email": "stop@example.jp"}, "is on the suppression list (Complaint)"),
        ({"email": "new@example.jp", "attr_n": "many"}, "Not a number."),
    ]
    for data, message in cases:
        response = admin_client.post(_url("create", org_a), {**base, **data})
        assert response.status_code == 400
        assert message in response.content.decode()
    assert Contact.objects.count() == 1


def test_over_the_limit_the_form_says_so(admin, admin_client, org_a):
    org_a.max_contacts = 1
    org_a.save()
    _add(admin, "one@example.jp")
    response = admin_client.post(
        _url("create", org_a), {"email": "two@example.jp", "consent_method": "web_form"}
    )
    assert response.status_code == 400
    assert "Your plan allows 1 contacts" in response.content.decode()


def test_a_contacts_history_shows_import_list_and_suppression(admin, admin_client, org_a):
    run_import(org_a, csv_bytes([["email"], ["h@example.jp"]]), file_name="展示会2024.csv")
    run_import(org_a, csv_bytes([["email", "会社名"], ["h@example.jp", "New"]]), list_name="L")
    services.suppress_address(admin, "h@example.jp")
    contact = Contact.objects.get(email="h@example.jp")
    history = admin_client.get(_url("detail", org_a, contact.pk)).context["history"]
    whats = [item["what"] for item in history]
    assert whats[0] in {"Suppressed", "suppression"} or "Suppressed" in whats
    assert "Created by an import" in whats
    assert "Imported" in whats
    imported = next(item for item in history if item["what"] == "Imported")
    assert imported["details"]["list"] == "L"
    created = next(item for item in history if item["what"] == "Created by an import")
    assert created["details"] == {"file": "展示会2024.csv"}


def test_suppression_page_adds_and_only_admins_lift_with_a_reason(
    admin, admin_client, marketer_client, org_a
):
    response = marketer_client.post(
        _url("suppressions", org_a), {"address": "Stop@Example.jp", "reason": "manual"}
    )
    assert response.status_code == 302
    suppression = Suppression.objects.get()
    assert suppression.address == "Stop@example.jp"
    assert marketer_client.get(_url("suppression_lift", org_a, suppression.pk)).status_code == 403

    response = admin_client.post(_url("suppression_lift", org_a, suppression.pk), {"reason": " "})
    assert response.status_code == 400
    assert Suppression.objects.active().count() == 1

    response = admin_client.post(
        _url("suppression_lift", org_a, suppression.pk), {"reason": "Asked again by phone"}
    )
    assert response.status_code == 302
    suppression.refresh_from_db()
    assert (suppression.lift_reason, suppression.lifted_by) == ("Asked again by phone", admin.user)
    lifted = AuditEntry.objects.get(action=Action.SUPPRESSION_LIFTED)
    assert lifted.details == {"reason": "Asked again by phone", "suppressed_for": "manual"}
    assert AuditEntry.objects.filter(action=Action.SUPPRESSION_ADDED).count() == 1


def test_lifting_a_suppression_resubscribes_the_contact(admin, org_a):
    contact = _add(admin, "back@example.jp")
    suppression = services.suppress_address(admin, "back@example.jp", SuppressionReason.HARD_BOUNCE)
    contact.refresh_from_db()
    assert contact.status == ContactStatus.BOUNCED
    services.lift_suppression(admin, suppression, "Mailbox fixed, confirmed by phone")
    contact.refresh_from_db()
    assert contact.status == ContactStatus.SUBSCRIBED
    kinds = list(ContactEvent.objects.filter(contact=contact).values_list("kind", flat=True))
    assert kinds[:2] == ["suppression_lifted", "suppressed"]


def test_custom_fields_are_managed_by_admins(admin_client, org_a):
    response = admin_client.post(
        _url("fields", org_a),
        {"key": "plan", "label": "プラン", "field_type": "choice", "choices": "Gold\nSilver\n"},
    )
    assert response.status_code == 302
    response = admin_client.post(
        _url("fields", org_a), {"key": "plan", "label": "Again", "field_type": "text"}
    )
    assert response.status_code == 400
    assert "A field with this key already exists." in response.content.decode()
    response = admin_client.post(
        _url("fields", org_a), {"key": "x", "label": "Empty choice", "field_type": "choice"}
    )
    assert "A choice field needs at least one choice." in response.content.decode()
    changes = AuditEntry.objects.filter(action=Action.CUSTOM_FIELD_CHANGED)
    assert [e.details["operation"] for e in changes] == ["created"]


@pytest.mark.parametrize("count", [3, 30])
def test_list_and_suppression_pages_query_counts_are_pinned(
    count, admin, admin_client, org_a, django_assert_num_queries
):
    _seed(org_a, admin, count, None)
    contact_list = services.visible_lists(admin).get(name="Imported")
    for i in range(count):
        services.add_suppression(org_a, f"s{i}@example.jp", SuppressionReason.MANUAL, source="t")
    admin_client.get(_url("lists", org_a))  # warm up: the session's activity stamp is written
    with django_assert_num_queries(9):
        response = admin_client.get(_url("list_detail", org_a, contact_list.pk))
    assert len(response.context["page"]) == count
    with django_assert_num_queries(7):
        response = admin_client.get(_url("suppressions", org_a))
    assert len(response.context["page"]) == count
    with django_assert_num_queries(7):
        response = admin_client.get(_url("lists", org_a))
    assert response.context["lists"][0][1] == count
