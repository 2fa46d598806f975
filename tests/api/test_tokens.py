"""API tokens: the tokens page, the service, and what authentication refuses."""

from __future__ import annotations

import datetime
import re

import pytest
from django.core import mail
from django.utils import timezone

from accounts import tokens
from accounts.enums import Role
from accounts.models import ApiToken
from audit.enums import Action
from audit.models import AuditEntry
from audit.tasks import evaluate_alerts
from tests.api.conftest import Api, api_for, make_token
from tests.factories import make_member

TOKEN_TEXT = re.compile(r"tyr_[a-z0-9]{12}_[A-Za-z0-9]{40}")


def _entries(action, organization):
    return AuditEntry.objects.filter(action=action, organization=organization).order_by("seq")


# --- The page -------------------------------------------------------------------------


def test_tokens_page_shows_a_new_token_once(marketer_client, marketer, org_a):
    url = f"/o/{org_a.slug}/tokens/"

    response = marketer_client.post(
        url, {"name": "CRM sync", "scopes": ["read", "write"], "expires_in_days": "90"}
    )

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    (secret,) = TOKEN_TEXT.findall(response.content.decode())
    token = ApiToken.objects.get()
    assert (token.user, token.organization, token.name) == (marketer.user, org_a, "CRM sync")
    assert token.scopes == ["read", "write"]
    assert token.token_hash == tokens.hash_secret(secret.rsplit("_", 1)[1])
    assert secret not in marketer_client.get(url).content.decode()
    assert f"tyr_{token.prefix}_" in marketer_client.get(url).content.decode()


def test_tokens_page_refuses_a_token_without_scopes(marketer_client, org_a):
    response = marketer_client.post(
        f"/o/{org_a.slug}/tokens/", {"name": "x", "expires_in_days": "90"}
    )

    assert response.status_code == 400
    assert ApiToken.objects.count() == 0


def test_tokens_page_is_forbidden_without_tokens_manage(viewer_client, approver_client, org_a):
    assert viewer_client.get(f"/o/{org_a.slug}/tokens/").status_code == 403
    assert approver_client.get(f"/o/{org_a.slug}/tokens/").status_code == 403


def test_tokens_page_is_not_found_for_an_outsider(outsider_client, marketer, org_a):
    token, _secret = make_token(marketer)

    assert outsider_client.get(f"/o/{org_a.slug}/tokens/").status_code == 404
    response = outsider_client.post(f"/o/{org_a.slug}/tokens/{token.pk}/revoke/")
    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_a_marketer_sees_only_their_own_tokens_and_an_admin_sees_all(
    marketer_client, admin_client, marketer, admin, org_a
):
    mine, _ = make_token(marketer)
    theirs, _ = make_token(admin)
    url = f"/o/{org_a.slug}/tokens/"

    marketer_page = marketer_client.get(url).content.decode()
    admin_page = admin_client.get(url).content.decode()

    assert mine.prefix in marketer_page and theirs.prefix not in marketer_page
    assert mine.prefix in admin_page and theirs.prefix in admin_page
    revoke = f"/o/{org_a.slug}/tokens/{theirs.pk}/revoke/"
    assert marketer_client.post(revoke).status_code == 404


def test_an_admin_revokes_another_members_token(admin_client, admin, marketer, org_a):
    token, secret = make_token(marketer)
    mail.outbox.clear()

    response = admin_client.post(f"/o/{org_a.slug}/tokens/{token.pk}/revoke/")

    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_by == admin.user
    assert Api(secret).get("contacts/").status_code == 401
    (entry,) = _entries(Action.API_TOKEN_REVOKED, org_a)
    assert (entry.actor, entry.details["owner"]) == (admin.user, "marketer@a.example")


# --- The service ---------------------------------------------------------------------


def test_creating_a_token_is_audited_and_each_admin_gets_exactly_one_email(
    marketer, admin, org_a, django_capture_on_commit_callbacks
):
    make_member(org_a, Role.ADMIN, "second-admin@a.example")

    with django_capture_on_commit_callbacks(execute=True):
        token, secret = tokens.create_token(marketer, name="ERP", scopes=["read"])
    (entry,) = _entries(Action.API_TOKEN_CREATED, org_a)
    sent_by_the_service = list(mail.outbox)
    # What the worker does with the task queued on commit (and what the sweep would redo).
    with django_capture_on_commit_callbacks(execute=True):
        raised = evaluate_alerts(entry.pk)
        again = evaluate_alerts(entry.pk)

    assert entry.actor == marketer.user
    assert entry.details["prefix"] == token.prefix
    assert entry.details["scopes"] == ["read"]
    assert secret not in str(entry.details)
    assert sent_by_the_service == []
    assert (raised, again) == (1, 0)
    assert sorted(m.to for m in mail.outbox) == [["admin@a.example"], ["second-admin@a.example"]]
    for message in mail.outbox:
        assert message.subject == "[Tayori] Alert in Organisation A: API token created"
        assert (
            f"marketer@a.example created an API token (ERP, tyr_{token.prefix}_…)." in message.body
        )
        assert secret.rsplit("_", 1)[1] not in message.body


def test_revoking_a_token_emails_the_admins_once(
    marketer, admin, org_a, django_capture_on_commit_callbacks
):
    token, _secret = make_token(marketer)
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        tokens.revoke_token(admin, token)

    (message,) = mail.outbox
    assert message.to == ["admin@a.example"]
    assert message.subject == "[Tayori] API token revoked in Organisation A"


def test_the_secret_is_never_stored(marketer):
    token, secret = tokens.create_token(marketer, name="ERP", scopes=["read"])

    stored = ApiToken.objects.filter(pk=token.pk).values().get()
    assert secret.rsplit("_", 1)[1] not in str(stored)
    assert len(token.token_hash) == 64


@pytest.mark.parametrize(
    ("fields", "message_field"),
    [
        ({"name": "", "scopes": ["read"]}, "name"),
        ({"name": "x", "scopes": []}, "scopes"),
        ({"name": "x", "scopes": ["read", "admin"]}, "scopes"),
        ({"name": "x", "scopes": ["read"], "expires_in_days": 3650}, "expires_in_days"),
    ],
)
def test_create_token_refuses_bad_input(marketer, fields, message_field):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as error:
        tokens.create_token(marketer, **fields)

    assert list(error.value.message_dict) == [message_field]


# --- Authentication --------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        "",
        "Bearer",
        "Bearer tyr_abc",
        "Token tyr_aaaaaaaaaaaa_" + "A" * 40,
        "Bearer tyr_aaaaaaaaaaaa_" + "A" * 40,
        "Bearer a b",
    ],
)
def test_missing_or_bad_tokens_are_401(client, marketer, header):
    make_token(marketer)
    headers = {"Authorization": header} if header else {}

    response = client.get("/api/v1/contacts/", headers=headers)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert set(response.json()) == {"code", "detail"}


def test_a_wrong_secret_with_a_real_prefix_is_401(marketer):
    _token, secret = make_token(marketer)

    response = Api(secret[:-1] + ("A" if secret[-1] != "A" else "B")).get("contacts/")

    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid token."


def test_an_expired_token_is_401(marketer):
    api = api_for(marketer, expires_at=timezone.now() - datetime.timedelta(seconds=1))

    response = api.get("contacts/")

    assert response.status_code == 401
    assert response.json()["detail"] == "This token has expired."


def test_a_revoked_token_is_401(marketer):
    api = api_for(marketer)
    tokens.revoke_token(marketer, api.token)

    response = api.get("contacts/")

    assert response.status_code == 401
    assert response.json()["detail"] == "This token was revoked."


def test_a_session_does_not_open_the_api(marketer_client):
    response = marketer_client.get("/api/v1/contacts/")

    assert response.status_code == 401


def test_a_deactivated_members_token_stops_at_once(marketer, admin):
    from accounts import services as account_services

    api = api_for(marketer)
    assert api.get("contacts/").status_code == 200

    account_services.deactivate_member(admin, marketer)

    response = api.get("contacts/")
    assert response.status_code == 401
    assert response.json()["detail"] == "This token's owner is no longer an active member."


def test_a_lowered_role_lowers_the_token_at_once(marketer, admin, customers):
    from accounts import services as account_services

    api = api_for(marketer)
    assert api.post("contacts/", {"email": "new@example.jp"}).status_code == 201

    account_services.change_role(admin, marketer, Role.VIEWER)

    response = api.post("contacts/", {"email": "other@example.jp"})
    assert response.status_code == 403
    assert response.json()["detail"] == "Your role does not allow this (contacts.edit)."
    assert api.get("contacts/").status_code == 403


def test_the_ip_allowlist_applies_to_tokens(marketer, org_a):
    org_a.ip_allowlist = "192.0.2.0/24"
    org_a.save()
    api = api_for(marketer)

    assert (
        api.client.get(
            "/api/v1/contacts/", REMOTE_ADDR="192.0.2.9", headers=api._headers()
        ).status_code
        == 200
    )
    refused = api.client.get(
        "/api/v1/contacts/", REMOTE_ADDR="198.51.100.7", headers=api._headers()
    )
    assert refused.status_code == 403
    assert _entries(Action.IP_REFUSED, org_a).count() == 1


# --- Recording use -----------------------------------------------------------------------


def test_use_is_recorded_with_an_audit_entry_at_most_once_an_hour(marketer, org_a):
    api = api_for(marketer)

    for _ in range(3):
        assert api.get("contacts/").status_code == 200

    api.token.refresh_from_db()
    assert api.token.last_used_at is not None
    assert api.token.last_used_ip == "127.0.0.1"
    (entry,) = _entries(Action.API_TOKEN_USED, org_a)
    assert (entry.actor, entry.details["path"]) == (marketer.user, "/api/v1/contacts/")

    ApiToken.objects.filter(pk=api.token.pk).update(
        last_used_at=timezone.now() - datetime.timedelta(hours=2)
    )
    api.get("contacts/")
    assert _entries(Action.API_TOKEN_USED, org_a).count() == 2


def test_use_from_a_new_address_is_audited_at_once(marketer, org_a):
    api = api_for(marketer)
    api.get("contacts/")

    api.client.get("/api/v1/contacts/", REMOTE_ADDR="192.0.2.44", headers=api._headers())

    entries = list(_entries(Action.API_TOKEN_USED, org_a))
    assert [e.details["new_address"] for e in entries] == [True, True]
    assert [e.ip for e in entries] == ["127.0.0.1", "192.0.2.44"]


def test_tokens_page_query_count_does_not_grow(
    admin_client, admin, marketer, org_a, django_assert_max_num_queries
):
    for _ in range(10):
        make_token(marketer)
        make_token(admin)

    with django_assert_max_num_queries(25):
        response = admin_client.get(f"/o/{org_a.slug}/tokens/")

    assert response.content.decode().count("tyr_") >= 20
