"""Re-authentication is asked before role changes, approvals, token creation and the
audit export once the last proof of identity is more than five minutes old."""

from __future__ import annotations

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.enums import Role
from accounts.models import ApiToken, Membership
from accounts.reauth import CREDENTIAL_FIELD, REAUTH_SESSION_KEY
from audit.enums import Action
from audit.models import AuditEntry
from campaigns import hooks
from campaigns import services as campaign_services
from campaigns.enums import CampaignState
from campaigns.fingerprint import content_fingerprint
from tests.campaigns.conftest import FOOTER, make_campaign, make_contact, make_list, verified
from tests.factories import PASSWORD, totp_code


def _age(client, seconds: int = 301) -> None:
    """Make the client's last authentication ``seconds`` old."""
    session = client.session
    session[REAUTH_SESSION_KEY] -= seconds
    session.save()


def _role_url(member) -> str:
    return f"/o/org-a/members/{member.pk}/role/"


def test_signing_in_counts_as_a_recent_authentication(admin_client, viewer):
    response = admin_client.post(_role_url(viewer), {"role": Role.MARKETER})

    assert response.status_code == 302
    assert Membership.objects.get(pk=viewer.pk).role == Role.MARKETER


def test_a_role_change_asks_for_the_password_again_after_five_minutes(admin_client, viewer):
    _age(admin_client)

    response = admin_client.post(_role_url(viewer), {"role": Role.APPROVER})

    assert response.status_code == 200
    assert response.templates[0].name == "accounts/reauth.html"
    content = response.content.decode()
    # The page re-posts the original form to the same URL, with the credential.
    assert f'action="{_role_url(viewer)}"' in content
    assert '<input type="hidden" name="role" value="approver">' in content
    assert f'name="{CREDENTIAL_FIELD}"' in content
    assert Membership.objects.get(pk=viewer.pk).role == Role.VIEWER
    assert not AuditEntry.objects.filter(action=Action.ROLE_CHANGED).exists()


def test_a_wrong_credential_changes_nothing_and_is_audited(admin_client, admin, viewer, org_a):
    _age(admin_client)

    response = admin_client.post(
        _role_url(viewer), {"role": Role.APPROVER, CREDENTIAL_FIELD: "not my password"}
    )

    assert response.status_code == 400
    assert "That is not your password or a current code." in response.content.decode()
    assert Membership.objects.get(pk=viewer.pk).role == Role.VIEWER
    failure = AuditEntry.objects.get(action=Action.REAUTH_FAILED)
    assert (failure.actor, failure.organization) == (admin.user, org_a)
    assert failure.details == {"path": _role_url(viewer)}
    # The password attempt went through authentication, like the login page.
    assert AuditEntry.objects.filter(action=Action.LOGIN_FAILED, organization=org_a).count() == 1


def test_the_password_lets_the_same_request_go_ahead(admin_client, viewer):
    _age(admin_client)

    response = admin_client.post(
        _role_url(viewer), {"role": Role.APPROVER, CREDENTIAL_FIELD: PASSWORD}
    )
    then = admin_client.post(_role_url(viewer), {"role": Role.MARKETER})

    assert response.status_code == 302
    assert then.status_code == 302  # not asked again within five minutes
    assert Membership.objects.get(pk=viewer.pk).role == Role.MARKETER


def test_a_two_factor_code_also_re_authenticates(admin_client, admin, viewer):
    _age(admin_client)
    device = TOTPDevice.objects.get(user=admin.user)

    response = admin_client.post(
        _role_url(viewer), {"role": Role.APPROVER, CREDENTIAL_FIELD: totp_code(device)}
    )

    assert response.status_code == 302
    assert Membership.objects.get(pk=viewer.pk).role == Role.APPROVER


def test_the_audit_export_sends_through_the_prompt_and_back(admin_client, admin):
    _age(admin_client)
    url = "/o/org-a/audit/export.csv?action=login"

    prompt = admin_client.get(url)
    accepted = admin_client.post(
        "/account/reauth/?next=/o/org-a/audit/export.csv%3Faction%3Dlogin",
        {CREDENTIAL_FIELD: PASSWORD},
    )
    export = admin_client.get(url)

    assert prompt.status_code == 200
    assert prompt.templates[0].name == "accounts/reauth.html"
    assert 'action="/account/reauth/?next=/o/org-a/audit/export.csv%3Faction%3Dlogin"' in (
        prompt.content.decode()
    )
    assert (accepted.status_code, accepted["Location"]) == (302, url)
    assert export.status_code == 200
    assert export["Content-Type"] == "text/csv; charset=utf-8"


def test_the_prompt_never_redirects_off_site(admin_client):
    _age(admin_client)

    response = admin_client.post(
        "/account/reauth/?next=https://evil.example/", {CREDENTIAL_FIELD: PASSWORD}
    )

    assert response["Location"] == "/"


def test_the_prompt_page_needs_a_login(client):
    response = client.get("/account/reauth/")

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_api_token_creation_asks_again(marketer_client, marketer):
    _age(marketer_client)
    form = {"name": "CRM sync", "scopes": ["read", "write"], "expires_in_days": "90"}

    prompt = marketer_client.post("/o/org-a/tokens/", form)
    created = marketer_client.post("/o/org-a/tokens/", {**form, CREDENTIAL_FIELD: PASSWORD})

    assert prompt.templates[0].name == "accounts/reauth.html"
    content = prompt.content.decode()
    assert '<input type="hidden" name="scopes" value="read">' in content
    assert '<input type="hidden" name="scopes" value="write">' in content
    assert created.status_code == 200
    token = ApiToken.objects.get()
    assert (token.name, sorted(token.scopes)) == ("CRM sync", ["read", "write"])


@pytest.fixture
def submitted(org_a, marketer):
    from campaigns.models import SenderProfile

    profile = SenderProfile.for_organization(org_a)
    for name, value in FOOTER.items():
        setattr(profile, name, value)
    profile.save()
    customers = make_list(org_a)
    make_contact(org_a, "yamada@example.jp", customers, last_name="山田")
    with hooks.registered(domain_checker=verified):
        campaign = make_campaign(marketer, customers)
        yield campaign_services.submit_campaign(marketer, campaign)


def test_an_approval_asks_again(approver_client, submitted):
    _age(approver_client)
    url = f"/o/org-a/campaigns/{submitted.pk}/approve/"
    form = {"fingerprint": content_fingerprint(submitted), "comment": "OK"}

    prompt = approver_client.post(url, form)
    submitted.refresh_from_db()
    state_after_prompt = submitted.state
    approved = approver_client.post(url, {**form, CREDENTIAL_FIELD: PASSWORD})

    assert prompt.templates[0].name == "accounts/reauth.html"
    assert state_after_prompt == CampaignState.SUBMITTED
    assert approved.status_code == 302
    submitted.refresh_from_db()
    assert submitted.state == CampaignState.APPROVED


def test_exports_of_personal_data_want_a_credential_entered_after_signing_in(admin_client, viewer):
    url = "/o/org-a/contacts/export/"
    right_after_login = admin_client.post(url, {"encoding": "utf-8-sig"})
    # A credential entered for another operation is the same proof: one mechanism.
    _age(admin_client)
    role = admin_client.post(_role_url(viewer), {"role": Role.MARKETER, CREDENTIAL_FIELD: PASSWORD})
    export = admin_client.post(url, {"encoding": "utf-8-sig"})

    assert right_after_login.templates[0].name == "accounts/reauth.html"
    assert role.status_code == 302
    assert export.status_code == 200
    assert export["Content-Type"] == "text/csv; charset=utf-8"
    assert AuditEntry.objects.filter(action=Action.CONTACTS_EXPORTED).count() == 1
