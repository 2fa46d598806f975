"""Bulk upsert: a result per row, the import's rules, idempotent retries, 413."""

from __future__ import annotations

import uuid

from audit.enums import Action
from audit.models import AuditEntry
from contacts import services
from contacts.enums import ContactStatus
from contacts.models import Contact, CustomField, ImportJob, ListMembership, Suppression
from tests.api.conftest import api_for
from tests.campaigns.conftest import make_contact, make_list

URL = "contacts/bulk/"


def _results(response):
    assert response.status_code == 200, response.content
    return [(r["index"], r["email"], r["result"]) for r in response.json()["results"]]


def test_bulk_upsert_reports_each_row(marketer_api, org_a):
    CustomField.objects.create(organization=org_a, key="score", label="Score", field_type="number")
    existing = make_contact(org_a, "sato@example.jp", last_name="佐藤")
    same = make_contact(org_a, "same@example.jp", last_name="同じ")

    response = marketer_api.post(
        URL,
        {
            "contacts": [
                {"email": "new@example.jp", "last_name": "新", "attributes": {"score": 3}},
                {"email": "SATO@example.jp", "first_name": "花子", "tags": ["vip"]},
                {"email": "same@example.jp", "last_name": "同じ"},
                {"email": "not an address"},
                {"email": "new@example.jp", "first_name": "一"},
                {"email": "x@example.jp", "attributes": {"score": "lots"}},
                {"email": "y@example.jp", "company": "a\nb"},
                "not an object",
            ]
        },
    )

    assert _results(response) == [
        (0, "new@example.jp", "created"),
        (1, "SATO@example.jp", "updated"),
        (2, "same@example.jp", "unchanged"),
        (3, "not an address", "rejected"),
        (4, "new@example.jp", "merged"),
        (5, "x@example.jp", "rejected"),
        (6, "y@example.jp", "rejected"),
        (7, "", "rejected"),
    ]
    body = response.json()
    assert body["counts"] == {
        "rows": 8,
        "created": 1,
        "updated": 1,
        "unchanged": 1,
        "merged": 1,
        "rejected": 4,
        "warnings": 1,
    }
    rows = body["results"]
    created = Contact.objects.get(email="new@example.jp")
    assert rows[0]["contact_id"] == created.pk
    assert (created.last_name, created.first_name, created.attributes) == ("新", "一", {"score": 3})
    assert created.consent_method == "api"
    assert rows[1]["contact_id"] == existing.pk
    existing.refresh_from_db()
    assert (existing.last_name, existing.first_name) == ("佐藤", "花子")
    assert rows[2]["contact_id"] == same.pk
    assert rows[3]["errors"][0].startswith("email: ")
    assert rows[4]["warnings"] == ["Same address as row 0: merged into it."]
    assert rows[5]["errors"] == ["attributes.score: Not a number."]
    assert rows[6]["errors"] == ["company: Line breaks are not allowed."]
    assert rows[7]["errors"] == ["Each row must be an object."]
    job = ImportJob.objects.get(pk=body["import_id"])
    (entry,) = AuditEntry.objects.filter(action=Action.CONTACTS_IMPORTED)
    assert entry.target_id == str(job.pk)
    assert entry.details["created"] == 1


def test_suppressed_addresses_stay_suppressed(marketer_api, marketer, org_a):
    contact = make_contact(org_a, "gone@example.jp")
    services.suppress_address(marketer, "gone@example.jp", "unsubscribed")
    services.suppress_address(marketer, "never@example.jp", "complaint")

    response = marketer_api.post(
        URL,
        {
            "contacts": [
                {"email": "gone@example.jp", "status": "subscribed", "last_name": "戻"},
                {"email": "never@example.jp"},
                {"email": "leaving@example.jp", "status": "unsubscribed"},
            ]
        },
    )

    assert _results(response) == [
        (0, "gone@example.jp", "rejected"),
        (1, "never@example.jp", "rejected"),
        (2, "leaving@example.jp", "created"),
    ]
    assert "suppression list" in response.json()["results"][0]["errors"][0]
    contact.refresh_from_db()
    assert (contact.status, contact.last_name) == (ContactStatus.UNSUBSCRIBED, "")
    assert not Contact.objects.filter(email="never@example.jp").exists()
    assert Suppression.objects.active().filter(address="leaving@example.jp").exists()
    leaving = Contact.objects.get(email="leaving@example.jp")
    assert leaving.status == ContactStatus.UNSUBSCRIBED


def test_a_retry_with_the_same_key_is_harmless(marketer_api, org_a):
    key = str(uuid.uuid4())
    payload = {"contacts": [{"email": "once@example.jp"}]}

    first = marketer_api.post(URL, payload, headers={"Idempotency-Key": key})
    Contact.objects.filter(email="once@example.jp").update(last_name="changed meanwhile")
    retry = marketer_api.post(URL, payload, headers={"Idempotency-Key": key})

    assert first.status_code == retry.status_code == 200
    assert retry.json() == first.json()
    assert retry["Idempotent-Replayed"] == "true"
    assert ImportJob.objects.count() == 1
    assert AuditEntry.objects.filter(action=Action.CONTACTS_IMPORTED).count() == 1


def test_the_same_key_with_another_body_is_refused(marketer_api):
    key = "sync-2026-01-01"
    marketer_api.post(
        URL, {"contacts": [{"email": "a@example.jp"}]}, headers={"Idempotency-Key": key}
    )

    response = marketer_api.post(
        URL, {"contacts": [{"email": "b@example.jp"}]}, headers={"Idempotency-Key": key}
    )

    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert not Contact.objects.filter(email="b@example.jp").exists()


def test_keys_are_per_token(marketer, org_a):
    key = "shared-key"
    one, two = api_for(marketer), api_for(marketer)

    one.post(URL, {"contacts": [{"email": "a@example.jp"}]}, headers={"Idempotency-Key": key})
    response = two.post(
        URL, {"contacts": [{"email": "b@example.jp"}]}, headers={"Idempotency-Key": key}
    )

    assert _results(response) == [(0, "b@example.jp", "created")]


def test_a_failed_call_leaves_no_key_behind(marketer_api):
    key = "retry-me"

    refused = marketer_api.post(URL, {"contacts": [], "list": 0}, headers={"Idempotency-Key": key})
    accepted = marketer_api.post(
        URL, {"contacts": [{"email": "a@example.jp"}]}, headers={"Idempotency-Key": key}
    )

    assert refused.status_code == 400
    assert accepted.status_code == 200


def test_more_than_10000_rows_is_413(marketer_api):
    rows = [{"email": f"p{n}@example.jp"} for n in range(10_001)]

    response = marketer_api.post(URL, {"contacts": rows})

    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    assert Contact.objects.count() == 0


def test_10000_rows_in_one_call(marketer_api, org_a):
    org_a.max_contacts = 20_000
    org_a.save()
    rows = [{"email": f"p{n}@example.jp", "last_name": f"姓{n}"} for n in range(10_000)]

    response = marketer_api.post(URL, {"contacts": rows})

    assert response.status_code == 200
    assert response.json()["counts"]["created"] == 10_000
    assert Contact.objects.count() == 10_000


def test_rows_over_the_plan_limit_are_rejected(marketer_api, org_a):
    org_a.max_contacts = 1
    org_a.save()

    response = marketer_api.post(
        URL, {"contacts": [{"email": "a@example.jp"}, {"email": "b@example.jp"}]}
    )

    assert _results(response) == [(0, "a@example.jp", "created"), (1, "b@example.jp", "rejected")]


def test_accepted_rows_join_the_list(marketer_api, org_a):
    contact_list = make_list(org_a, "Sync")

    response = marketer_api.post(
        URL, {"contacts": [{"email": "a@example.jp"}], "list": contact_list.pk}
    )

    contact_id = response.json()["results"][0]["contact_id"]
    assert ListMembership.objects.filter(contact_id=contact_id, contact_list=contact_list).exists()


def test_a_list_of_another_organisation_is_unknown(marketer_api, org_b):
    other = make_list(org_b, "Theirs")

    response = marketer_api.post(URL, {"contacts": [{"email": "a@example.jp"}], "list": other.pk})

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["lists"]


def test_bulk_needs_the_import_permission(admin, approver, org_a):
    api = api_for(approver)

    response = api.post(URL, {"contacts": [{"email": "a@example.jp"}]})

    assert response.status_code == 403
    assert response.json()["detail"] == "Your role does not allow this (contacts.import)."


def test_results_are_read_back_in_japanese_too(marketer, marketer_api):
    services.suppress_address(marketer, "gone@example.jp", "unsubscribed")

    response = marketer_api.post(
        URL,
        {"contacts": [{"email": "gone@example.jp"}, {"email": "new@example.jp"}]},
        headers={"Accept-Language": "ja"},
    )

    assert _results(response) == [
        (0, "gone@example.jp", "rejected"),
        (1, "new@example.jp", "created"),
    ]
    assert response.json()["results"][0]["errors"] != []


def test_a_key_older_than_a_day_is_forgotten(marketer_api):
    import datetime

    from django.utils import timezone

    from accounts.models import ApiIdempotentRequest

    marketer_api.post(
        URL, {"contacts": [{"email": "a@example.jp"}]}, headers={"Idempotency-Key": "k1"}
    )
    ApiIdempotentRequest.objects.update(created_at=timezone.now() - datetime.timedelta(hours=25))

    response = marketer_api.post(
        URL, {"contacts": [{"email": "b@example.jp"}]}, headers={"Idempotency-Key": "k1"}
    )

    assert _results(response) == [(0, "b@example.jp", "created")]
    assert ApiIdempotentRequest.objects.count() == 1
