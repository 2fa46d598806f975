"""The Django admin, for platform operators (staff with a verified second factor)."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from accounts import services
from accounts.enums import Role
from accounts.models import Invitation, Membership, Organization, User
from audit.models import AuditEntry
from tests.factories import login_verified, make_member, make_user

MODEL_PAGES = [
    "/admin/accounts/organization/",
    "/admin/accounts/user/",
    "/admin/accounts/membership/",
    "/admin/accounts/invitation/",
    "/admin/accounts/organization/add/",
    "/admin/accounts/user/add/",
]


@pytest.fixture
def operator(db):
    return make_user("operator@platform.example", is_staff=True, is_superuser=True)


@pytest.fixture
def operator_client(operator):
    client = Client()
    login_verified(client, operator)
    return client


def _org_form(organization, **changes) -> dict:
    data = {
        "name": organization.name,
        "time_zone": organization.time_zone,
        "is_active": "on",
        "max_contacts": organization.max_contacts,
        "monthly_send_limit": organization.monthly_send_limit,
        "approvals_required": organization.approvals_required,
        "session_timeout_minutes": organization.session_timeout_minutes,
        "ip_allowlist": organization.ip_allowlist,
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
    }
    data.update(changes)
    return data


@pytest.mark.parametrize("path", MODEL_PAGES)
def test_admin_opens_accounts_pages(operator_client, admin, path):
    response = operator_client.get(path)

    assert response.status_code == 200


def test_admin_organisation_page_shows_plan_limits_and_policies(operator_client, org_a):
    response = operator_client.get(f"/admin/accounts/organization/{org_a.pk}/change/")

    assert response.status_code == 200
    assert set(response.context["adminform"].form.fields) == {
        "name",
        "time_zone",
        "is_active",
        "max_contacts",
        "monthly_send_limit",
        "approvals_required",
        "require_2fa",
        "session_timeout_minutes",
        "ip_allowlist",
    }


def test_admin_needs_a_verified_second_factor(client, operator):
    client.force_login(operator, backend="django.contrib.auth.backends.ModelBackend")

    response = client.get("/admin/accounts/organization/")

    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=/admin/accounts/organization/"


def test_admin_is_closed_to_organisation_admins(admin_client):
    response = admin_client.get("/admin/accounts/organization/")

    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=/admin/accounts/organization/"


def test_admin_changes_plan_limits_and_policies_and_audits_it(operator_client, operator, org_a):
    response = operator_client.post(
        f"/admin/accounts/organization/{org_a.pk}/change/",
        _org_form(org_a, max_contacts=250_000, monthly_send_limit=1_000_000, require_2fa="on"),
    )

    assert response.status_code == 302
    org_a.refresh_from_db()
    assert (org_a.max_contacts, org_a.monthly_send_limit, org_a.require_2fa) == (
        250_000,
        1_000_000,
        True,
    )
    entry = AuditEntry.objects.for_organization(org_a).get(action="policy_changed")
    assert entry.actor == operator
    assert entry.details == {
        "by_platform": True,
        "changes": {
            "max_contacts": [10_000, 250_000],
            "monthly_send_limit": [50_000, 1_000_000],
            "require_2fa": [False, True],
        },
    }


def test_admin_refuses_a_bad_allowlist(operator_client, org_a):
    response = operator_client.post(
        f"/admin/accounts/organization/{org_a.pk}/change/",
        _org_form(org_a, ip_allowlist="10.0.0.0/8\nnonsense"),
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "ip_allowlist": ["Line 2: nonsense is not an IP address or network (CIDR)."]
    }
    org_a.refresh_from_db()
    assert org_a.ip_allowlist == ""


def test_admin_keeps_the_slug_fixed(operator_client, org_a):
    operator_client.post(
        f"/admin/accounts/organization/{org_a.pk}/change/", _org_form(org_a, slug="renamed")
    )

    org_a.refresh_from_db()
    assert org_a.slug == "org-a"


def test_admin_creates_organisation_with_its_first_admin(operator_client, operator):
    response = operator_client.post(
        "/admin/accounts/organization/add/",
        {
            "name": "Acme",
            "slug": "acme",
            "time_zone": "Asia/Tokyo",
            "admin_email": "Boss@Acme.example",
            "max_contacts": 500,
            "monthly_send_limit": 2000,
        },
    )

    organization = Organization.objects.get(slug="acme")
    assert response.status_code == 302
    assert response["Location"] == "/admin/accounts/organization/"
    assert (organization.max_contacts, organization.monthly_send_limit) == (500, 2000)
    membership = Membership.objects.get(organization=organization)
    assert (membership.user.email, membership.role) == ("boss@acme.example", "admin")
    invitation = Invitation.objects.get(organization=organization)
    assert invitation.invited_by == operator
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    link = shown[0].split(": ", 1)[1]
    assert link.startswith("http://127.0.0.1:8000/invitations/")
    token = link.removeprefix("http://127.0.0.1:8000/invitations/").rstrip("/")
    assert services.load_invitation(token) == invitation


def test_admin_refuses_an_organisation_with_a_taken_slug(operator_client, org_a):
    response = operator_client.post(
        "/admin/accounts/organization/add/",
        {
            "name": "Copy",
            "slug": "org-a",
            "time_zone": "Asia/Tokyo",
            "admin_email": "boss@acme.example",
            "max_contacts": 500,
            "monthly_send_limit": 2000,
        },
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "slug": ["Organization with this Slug already exists."]
    }
    assert Organization.objects.count() == 1


def test_admin_creates_user_by_email(operator_client):
    response = operator_client.post(
        "/admin/accounts/user/add/",
        {
            "email": "new.operator@platform.example",
            "usable_password": "true",
            "password1": "a long and unusual passphrase",
            "password2": "a long and unusual passphrase",
        },
    )

    user = User.objects.get(email="new.operator@platform.example")
    assert response.status_code == 302
    assert response["Location"] == f"/admin/accounts/user/{user.pk}/change/"
    assert user.check_password("a long and unusual passphrase")


def test_admin_user_page_has_no_username_and_no_delete(operator_client, marketer):
    response = operator_client.get(f"/admin/accounts/user/{marketer.user.pk}/change/")

    assert response.status_code == 200
    form = response.context["adminform"].form
    assert "username" not in form.fields
    assert form.initial["email"] == "marketer@a.example"
    assert response.context["has_delete_permission"] is False


def test_admin_invitation_shows_nonce_read_only(operator_client, admin):
    invitation = services.invite_member(admin, "new@a.example", Role.VIEWER)

    response = operator_client.get(f"/admin/accounts/invitation/{invitation.pk}/change/")
    posted = operator_client.post(
        f"/admin/accounts/invitation/{invitation.pk}/change/", {"nonce": "forged"}
    )

    assert response.status_code == 200
    assert invitation.nonce in response.content.decode()
    assert b'name="nonce"' not in response.content
    assert posted.status_code == 403
    invitation.refresh_from_db()
    assert invitation.nonce != "forged"


def test_admin_membership_keeps_the_last_admin(operator_client, admin):
    response = operator_client.post(
        f"/admin/accounts/membership/{admin.pk}/change/", {"role": "viewer", "is_active": "on"}
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.non_field_errors() == [
        "admin@a.example is the last active admin; make someone else admin first."
    ]
    admin.refresh_from_db()
    assert admin.role == "admin"


def test_admin_membership_change_is_audited(operator_client, operator, admin, org_a):
    other = make_member(org_a, Role.VIEWER, "other@a.example")

    response = operator_client.post(
        f"/admin/accounts/membership/{other.pk}/change/", {"role": "admin", "is_active": "on"}
    )

    assert response.status_code == 302
    other.refresh_from_db()
    assert other.role == "admin"
    entry = AuditEntry.objects.for_organization(org_a).get(action="role_changed")
    assert (entry.actor, entry.details) == (
        operator,
        {"by_platform": True, "email": "other@a.example", "before": "viewer", "after": "admin"},
    )
