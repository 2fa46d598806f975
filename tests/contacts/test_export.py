"""Export: permission, re-authentication, encodings, formula neutralisation, audit."""

# ruff: noqa: RUF001 - full-width and look-alike characters are the input under test
from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.reauth import CREDENTIAL_FIELD, REAUTH_SESSION_KEY
from audit.enums import Action
from audit.models import AuditEntry
from contacts import services
from tests.contacts.conftest import csv_bytes, run_import
from tests.factories import PASSWORD, totp_code

pytestmark = pytest.mark.django_db


def _url(org, **query):
    from urllib.parse import urlencode

    url = reverse("contacts:export", args=[org.slug])
    return f"{url}?{urlencode(query)}" if query else url


def _rows(response, encoding="utf-8-sig"):
    content = b"".join(response.streaming_content)
    return content, list(csv.reader(io.StringIO(content.decode(encoding))))


@pytest.fixture
def contacts(org_a):
    run_import(
        org_a,
        csv_bytes(
            [
                ["email", "姓", "名", "会社名", "tags"],
                ["a@example.jp", "=1+2", "@SUM(A1)", "-10", "VIP"],
                ["b@example.jp", "髙橋", "〜太郎−", "=cmd|' /C calc'!A0", ""],
                ["c@example.jp", "+81", "花子", "㈱①", "VIP"],
            ]
        ),
    )


def test_export_asks_for_the_password_and_writes_utf8_with_bom(contacts, marketer_client, org_a):
    page = marketer_client.get(_url(org_a, tag="VIP"))
    assert page.status_code == 200
    assert page.context["count"] == 2
    response = marketer_client.post(
        _url(org_a), {"tag": "VIP", "encoding": "utf-8-sig", CREDENTIAL_FIELD: "wrong password"}
    )
    assert response.status_code == 400
    assert response.templates[0].name == "accounts/reauth.html"
    assert AuditEntry.objects.filter(action=Action.REAUTH_FAILED).count() == 1
    assert not AuditEntry.objects.filter(action=Action.CONTACTS_EXPORTED).exists()

    response = marketer_client.post(
        _url(org_a), {"tag": "VIP", "encoding": "utf-8-sig", CREDENTIAL_FIELD: PASSWORD}
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment;" in response["Content-Disposition"]
    content, rows = _rows(response)
    assert content.startswith(b"\xef\xbb\xbf")
    assert rows[0][:6] == [
        "E-mail address",
        "Last name",
        "First name",
        "Company",
        "Phone",
        "Status",
    ]
    assert [r[:4] for r in rows[1:]] == [
        ["a@example.jp", "'=1+2", "'@SUM(A1)", "'-10"],
        ["c@example.jp", "'+81", "花子", "㈱①"],
    ]
    entry = AuditEntry.objects.get(action=Action.CONTACTS_EXPORTED)
    assert entry.details == {"rows": 2, "encoding": "utf-8-sig", "filter": {"tag": "VIP"}}
    assert entry.actor_label == "marketer@a.example"


def test_a_fresh_reauthentication_is_not_asked_again_for_five_minutes(
    contacts, marketer_client, org_a
):
    marketer_client.post(_url(org_a), {"encoding": "utf-8-sig", CREDENTIAL_FIELD: PASSWORD})
    page = marketer_client.get(_url(org_a))
    assert page.context["needs_credential"] is False
    response = marketer_client.post(_url(org_a), {"encoding": "utf-8-sig"})
    assert response.status_code == 200
    session = marketer_client.session
    session[REAUTH_SESSION_KEY] -= 301
    session.save()
    response = marketer_client.post(_url(org_a), {"encoding": "utf-8-sig"})
    assert response.templates[0].name == "accounts/reauth.html"
    assert marketer_client.get(_url(org_a)).context["needs_credential"] is True
    assert AuditEntry.objects.filter(action=Action.CONTACTS_EXPORTED).count() == 2


def test_signing_in_is_not_enough_for_an_export(contacts, marketer_client, org_a):
    # Unlike a role change, an export of personal data wants a credential entered after
    # signing in: a browser left signed in does not hand over the list.
    page = marketer_client.get(_url(org_a, tag="VIP"))
    prompt = marketer_client.post(_url(org_a), {"tag": "VIP", "encoding": "cp932"})
    then = marketer_client.post(
        _url(org_a), {"tag": "VIP", "encoding": "cp932", CREDENTIAL_FIELD: PASSWORD}
    )

    assert page.context["needs_credential"] is True
    assert f'name="{CREDENTIAL_FIELD}"' in page.content.decode()
    assert (prompt.status_code, prompt.templates[0].name) == (200, "accounts/reauth.html")
    content = prompt.content.decode()
    assert '<input type="hidden" name="tag" value="VIP">' in content
    assert '<input type="hidden" name="encoding" value="cp932">' in content
    assert then.status_code == 200
    assert then["Content-Type"] == "text/csv; charset=shift_jis"
    entry = AuditEntry.objects.get(action=Action.CONTACTS_EXPORTED)
    assert entry.details == {"rows": 2, "encoding": "cp932", "filter": {"tag": "VIP"}}


def test_a_two_factor_code_also_reauthenticates(contacts, admin, admin_client, org_a):
    device = TOTPDevice.objects.get(user=admin.user)
    response = admin_client.post(
        _url(org_a), {"encoding": "utf-8-sig", CREDENTIAL_FIELD: totp_code(device)}
    )
    assert response.status_code == 200


def test_cp932_export_maps_look_alikes_and_refuses_what_it_cannot_encode(
    contacts, admin, marketer_client, org_a
):
    response = marketer_client.post(_url(org_a), {"encoding": "cp932", CREDENTIAL_FIELD: PASSWORD})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=shift_jis"
    content, rows = _rows(response, "cp932")
    assert not content.startswith(b"\xef\xbb\xbf")
    assert rows[2][:4] == ["b@example.jp", "髙橋", "～太郎－", "'=cmd|' /C calc'!A0"]
    assert rows[3][3] == "㈱①"

    contact = services.find_contact(org_a.pk, "c@example.jp")
    services.update_contact(
        admin, contact, services.ContactInput(email="c@example.jp", first_name="花子😀")
    )
    response = marketer_client.post(_url(org_a), {"encoding": "cp932"})
    assert response.status_code == 400
    assert (
        "c@example.jp contains “😀” (U+1F600), which Shift_JIS/CP932 cannot represent."
        in response.content.decode()
    )
    assert AuditEntry.objects.filter(action=Action.CONTACTS_EXPORTED).count() == 1


def test_export_of_a_list_exports_only_its_visible_members(admin, marketer_client, org_a):
    customers = services.create_list(admin, "Customers")
    services.create_contact(admin, services.ContactInput(email="in@example.jp", lists=[customers]))
    services.create_contact(admin, services.ContactInput(email="out@example.jp"))
    response = marketer_client.post(
        _url(org_a), {"list": customers.pk, "encoding": "utf-8-sig", CREDENTIAL_FIELD: PASSWORD}
    )
    _content, rows = _rows(response)
    assert [r[0] for r in rows[1:]] == ["in@example.jp"]
    assert rows[1][7] == "Customers"
    entry = AuditEntry.objects.get(action=Action.CONTACTS_EXPORTED)
    assert entry.details["filter"] == {"list_id": customers.pk}


def test_outsiders_and_roles_without_export_cannot_export(
    contacts, org_a, outsider_client, viewer_client, approver_client
):
    assert outsider_client.post(_url(org_a), {"encoding": "utf-8-sig"}).status_code == 404
    assert viewer_client.post(_url(org_a), {"encoding": "utf-8-sig"}).status_code == 403
    assert approver_client.post(_url(org_a), {"encoding": "utf-8-sig"}).status_code == 403
    assert not AuditEntry.objects.filter(action=Action.CONTACTS_EXPORTED).exists()
