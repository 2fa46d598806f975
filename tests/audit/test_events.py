"""Each operation writes exactly one audit entry naming the right actor and organisation.

Login-type events are written once per organisation the person belongs to, so these
tests use people who belong to exactly one organisation.
"""

from __future__ import annotations

from django.conf import settings
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import services
from accounts.enums import Role
from accounts.models import Invitation, Membership
from accounts.reauth import CREDENTIAL_FIELD
from audit.enums import Action
from tests.audit.utils import audit_mark, entries_since
from tests.factories import PASSWORD, make_totp_device, make_user, totp_code

LOCALHOST = "127.0.0.1"


def _logged_in_without_second_factor(user) -> Client:
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def test_login_records_one_entry(marketer, org_a):
    client = Client()
    mark = audit_mark()

    response = client.post("/login/", {"username": "marketer@a.example", "password": PASSWORD})

    assert response.status_code == 302
    [entry] = entries_since(mark)
    assert entry.action == Action.LOGIN
    assert entry.actor == marketer.user
    assert entry.actor_label == "marketer@a.example"
    assert entry.organization == org_a
    assert entry.target_id == str(marketer.user.pk)
    assert entry.ip == LOCALHOST


def test_logout_records_one_entry(marketer_client, marketer, org_a):
    mark = audit_mark()

    response = marketer_client.post("/logout/")

    assert response.status_code == 302
    [entry] = entries_since(mark)
    assert (entry.action, entry.actor, entry.organization) == (
        Action.LOGOUT,
        marketer.user,
        org_a,
    )


def test_failed_login_for_known_address_records_one_entry_in_its_organization(marketer, org_a):
    mark = audit_mark()

    response = Client().post(
        "/login/", {"username": "marketer@a.example", "password": "wrong password"}
    )

    assert response.status_code == 200
    [entry] = entries_since(mark)
    assert entry.action == Action.LOGIN_FAILED
    # Whoever typed the address is not known to be its owner: no actor, only the label.
    assert entry.actor is None
    assert entry.actor_label == "marketer@a.example"
    assert entry.organization == org_a
    assert entry.target_id == str(marketer.user.pk)
    assert entry.details == {"email": "marketer@a.example"}
    assert entry.ip == LOCALHOST


def test_failed_login_for_unknown_address_records_one_platform_entry(org_a, admin):
    mark = audit_mark()

    Client().post("/login/", {"username": "nobody@nowhere.example", "password": "x"})

    [entry] = entries_since(mark)
    assert entry.action == Action.LOGIN_FAILED
    assert entry.organization is None
    assert entry.chain == "platform"
    assert entry.actor is None
    assert entry.actor_label == "nobody@nowhere.example"
    assert entry.target_id == ""


def test_lockout_after_failure_limit_records_one_lockout_entry(marketer, org_a):
    limit = settings.AXES_FAILURE_LIMIT
    client = Client()
    mark = audit_mark()

    responses = [
        client.post("/login/", {"username": "marketer@a.example", "password": f"wrong {n}"})
        for n in range(limit)
    ]

    assert [r.status_code for r in responses] == [200] * (limit - 1) + [429]
    entries = entries_since(mark)
    assert [e.action for e in entries] == [Action.LOGIN_FAILED] * (limit - 1) + [
        Action.LOCKOUT,
        Action.LOGIN_FAILED,
    ]
    lockout = entries[-2]
    assert lockout.organization == org_a
    assert lockout.actor is None
    assert lockout.actor_label == "marketer@a.example"
    assert lockout.target_id == str(marketer.user.pk)
    assert {e.organization_id for e in entries} == {org_a.pk}


def test_two_factor_enrolment_records_one_entry(marketer, org_a):
    client = _logged_in_without_second_factor(marketer.user)
    client.get("/account/2fa/setup/")
    device = TOTPDevice.objects.get(user=marketer.user, confirmed=False)
    mark = audit_mark()

    response = client.post("/account/2fa/setup/", {"token": totp_code(device)})

    assert response.status_code == 200
    assert TOTPDevice.objects.get(pk=device.pk).confirmed is True
    [entry] = entries_since(mark)
    assert (entry.action, entry.actor, entry.organization) == (
        Action.TWO_FACTOR_ENROLLED,
        marketer.user,
        org_a,
    )


def test_two_factor_failure_records_one_entry(admin, org_a):
    device = make_totp_device(admin.user)
    client = _logged_in_without_second_factor(admin.user)
    wrong = f"{(int(totp_code(device)) + 500_000) % 1_000_000:06d}"
    mark = audit_mark()

    response = client.post("/account/2fa/verify/", {"token": wrong})

    assert response.status_code == 200
    [entry] = entries_since(mark)
    assert (entry.action, entry.actor, entry.organization) == (
        Action.TWO_FACTOR_FAILED,
        admin.user,
        org_a,
    )
    assert entry.details == {"stage": "login"}


def test_invitation_sent_records_one_entry(
    admin_client, admin, org_a, mailoutbox, django_capture_on_commit_callbacks
):
    mark = audit_mark()

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            f"/o/{org_a.slug}/members/invite/", {"email": "New@A.example", "role": "marketer"}
        )

    assert response.status_code == 302
    invitation = Invitation.objects.get(organization=org_a)
    [entry] = entries_since(mark)
    assert (entry.action, entry.actor, entry.organization) == (
        Action.INVITATION_SENT,
        admin.user,
        org_a,
    )
    assert (entry.target_type, entry.target_id) == ("accounts.invitation", str(invitation.pk))
    assert entry.details == {"email": "new@a.example", "role": "marketer"}
    assert [m.to for m in mailoutbox] == [["new@a.example"]]


def test_invitation_accepted_records_one_entry(admin, org_a):
    invitation = services.invite_member(admin, "new@a.example", Role.MARKETER)
    token = services.invitation_token(invitation)
    mark = audit_mark()

    response = Client().post(
        f"/invitations/{token}/",
        {"full_name": "New Person", "password1": PASSWORD, "password2": PASSWORD},
    )

    assert response.status_code == 302
    membership = Membership.objects.get(organization=org_a, user__email="new@a.example")
    entries = entries_since(mark)
    # Accepting also logs the new member in, which is its own event.
    assert [e.action for e in entries] == [Action.INVITATION_ACCEPTED, Action.LOGIN]
    accepted = entries[0]
    assert (accepted.actor, accepted.organization) == (membership.user, org_a)
    assert (accepted.target_type, accepted.target_id) == (
        "accounts.membership",
        str(membership.pk),
    )
    assert accepted.details == {"email": "new@a.example", "role": "marketer"}


def test_role_change_records_one_entry(admin_client, admin, marketer, org_a):
    mark = audit_mark()

    response = admin_client.post(f"/o/{org_a.slug}/members/{marketer.pk}/role/", {"role": "viewer"})

    assert response.status_code == 302
    [entry] = entries_since(mark)
    assert (entry.action, entry.actor, entry.organization) == (
        Action.ROLE_CHANGED,
        admin.user,
        org_a,
    )
    assert entry.target_id == str(marketer.pk)
    assert entry.details == {"email": "marketer@a.example", "before": "marketer", "after": "viewer"}


def test_deactivation_records_one_entry(admin_client, admin, viewer, org_a):
    mark = audit_mark()

    response = admin_client.post(f"/o/{org_a.slug}/members/{viewer.pk}/deactivate/")

    assert response.status_code == 302
    [entry] = entries_since(mark)
    assert (entry.action, entry.actor, entry.organization) == (
        Action.MEMBER_DEACTIVATED,
        admin.user,
        org_a,
    )
    assert entry.details == {"email": "viewer@a.example", "role": "viewer"}


def _policy_form(organization, **changes):
    data = {
        "name": organization.name,
        "time_zone": organization.time_zone,
        "approvals_required": organization.approvals_required,
        "session_timeout_minutes": organization.session_timeout_minutes,
        "ip_allowlist": organization.ip_allowlist,
    }
    data.update(changes)
    return data


def test_policy_change_records_one_entry(admin_client, admin, org_a):
    mark = audit_mark()

    response = admin_client.post(
        f"/o/{org_a.slug}/settings/", _policy_form(org_a, approvals_required=2)
    )

    assert response.status_code == 302
    [entry] = entries_since(mark)
    assert (entry.action, entry.actor, entry.organization) == (
        Action.POLICY_CHANGED,
        admin.user,
        org_a,
    )
    assert entry.details == {"changes": {"approvals_required": [1, 2]}}


def test_audit_export_records_one_entry(admin_client, admin, org_a):
    admin_client.post("/account/reauth/", {CREDENTIAL_FIELD: PASSWORD})
    mark = audit_mark()

    response = admin_client.get(f"/o/{org_a.slug}/audit/export.csv")
    b"".join(response.streaming_content)

    [entry] = entries_since(mark)
    assert (entry.action, entry.actor, entry.organization) == (
        Action.AUDIT_EXPORTED,
        admin.user,
        org_a,
    )


def test_login_of_member_of_two_organizations_records_one_entry_per_organization(org_a, org_b):
    user = make_user("both@example.com")
    # Joined B first; entries still go in organisation order, so that two transactions
    # lock the chain heads in the same order and never deadlock.
    Membership.objects.create(user=user, organization=org_b, role=Role.VIEWER)
    Membership.objects.create(user=user, organization=org_a, role=Role.MARKETER)
    mark = audit_mark()

    Client().post("/login/", {"username": "both@example.com", "password": PASSWORD})

    entries = entries_since(mark)
    assert [(e.action, e.organization_id, e.actor) for e in entries] == [
        (Action.LOGIN, org_a.pk, user),
        (Action.LOGIN, org_b.pk, user),
    ]
