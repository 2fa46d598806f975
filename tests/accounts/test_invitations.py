"""Inviting people: the e-mail, and a link that works once, for one person, for a while."""

from __future__ import annotations

import time
from urllib.parse import quote

import pytest
from django.core import mail, signing
from django.utils import timezone

from accounts import services
from accounts.enums import Role
from accounts.models import Invitation, Membership
from tests.factories import PASSWORD, make_user

NEW_PASSWORD = "a long and unusual passphrase"


@pytest.fixture
def invitation(admin):
    return Invitation.objects.create(
        organization=admin.organization,
        email="newcomer@a.example",
        role=Role.MARKETER,
        invited_by=admin.user,
    )


def _path(invitation) -> str:
    return services.invitation_url(invitation).removeprefix("http://127.0.0.1:8000")


def _accept(client, path):
    return client.post(path, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})


def test_invite_sends_email_with_link(
    admin_client, org_a, audit_actions, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/o/org-a/members/invite/", {"email": " Newcomer@A.example ", "role": "marketer"}
        )

    invitation = Invitation.objects.get()
    assert response.status_code == 302
    assert response["Location"] == "/o/org-a/members/"
    assert (invitation.organization, invitation.email, invitation.role) == (
        org_a,
        "newcomer@a.example",
        "marketer",
    )
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["newcomer@a.example"]
    link = message.body.split("http://127.0.0.1:8000", 1)[1].split()[0]
    assert services.load_invitation(link.removeprefix("/invitations/").strip("/")) == invitation
    assert f"http://127.0.0.1:8000{link}" in message.alternatives[0][0]
    assert audit_actions(org_a)[-1] == "invitation_sent"


def test_invite_shows_invitation_under_open_invitations(admin_client, org_a):
    admin_client.post("/o/org-a/members/invite/", {"email": "new@a.example", "role": "viewer"})

    response = admin_client.get("/o/org-a/members/")

    assert [i.email for i in response.context["invitations"]] == ["new@a.example"]
    assert b"<td>new@a.example</td><td>Viewer</td>" in response.content


def test_invite_refuses_an_existing_member(admin_client, marketer):
    response = admin_client.post(
        "/o/org-a/members/invite/", {"email": "marketer@a.example", "role": "viewer"}
    )

    assert response.status_code == 400
    assert response.context["form"].errors == {"email": ["marketer@a.example is already a member."]}
    assert not Invitation.objects.exists()


def test_invite_refuses_a_bad_address_and_an_unknown_role(admin_client):
    response = admin_client.post("/o/org-a/members/invite/", {"email": "nope", "role": "owner"})

    assert response.status_code == 400
    assert response.context["form"].errors == {
        "email": ["Enter a valid email address."],
        "role": ["Select a valid choice. owner is not one of the available choices."],
    }
    assert not Invitation.objects.exists()


def test_new_invitation_withdraws_the_open_one_for_the_same_address(admin, invitation):
    newer = services.invite_member(admin, "NEWCOMER@a.example", Role.VIEWER)

    invitation.refresh_from_db()
    assert invitation.revoked_at is not None
    assert newer.is_open


def test_accepting_invitation_creates_account_and_membership_with_the_role(
    client, invitation, org_a, audit_actions
):
    page = client.get(_path(invitation))
    response = client.post(
        _path(invitation),
        {"full_name": "New Comer", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )

    assert page.status_code == 200
    assert response.status_code == 302
    assert response["Location"] == "/o/org-a/"
    membership = Membership.objects.get(user__email="newcomer@a.example")
    assert (membership.organization, membership.role, membership.is_active) == (
        org_a,
        "marketer",
        True,
    )
    assert membership.user.full_name == "New Comer"
    assert membership.user.check_password(NEW_PASSWORD)
    invitation.refresh_from_db()
    assert invitation.accepted_by == membership.user
    assert client.get("/o/org-a/").context["current_membership"] == membership
    assert audit_actions(org_a)[-2:] == ["invitation_accepted", "login"]


def test_invitation_link_works_once(client, invitation):
    _accept(client, _path(invitation))
    client.post("/logout/")

    again = client.get(_path(invitation))
    again_post = _accept(client, _path(invitation))

    assert again.status_code == 410
    assert again.context["error"] == "This invitation has already been used."
    assert b"This invitation has already been used." in again.content
    assert again_post.status_code == 410
    assert Membership.objects.filter(user__email="newcomer@a.example").count() == 1


def test_expired_invitation_link_is_gone(client, invitation, settings):
    class EightDaysAgo(signing.TimestampSigner):
        def timestamp(self):
            return signing.b62_encode(int(time.time()) - 8 * 24 * 3600)

    token = EightDaysAgo(salt="accounts.invitation").sign_object(
        {"id": invitation.pk, "nonce": invitation.nonce}
    )
    settings.INVITATION_MAX_AGE = 7 * 24 * 3600

    response = client.get(f"/invitations/{token}/")
    posted = _accept(client, f"/invitations/{token}/")

    assert response.status_code == 410
    assert response.context["error"] == "This invitation has expired. Ask an admin for a new one."
    assert posted.status_code == 410
    assert not Membership.objects.filter(user__email="newcomer@a.example").exists()


def test_invitation_expires_after_max_age_setting(client, invitation, settings):
    path = _path(invitation)
    settings.INVITATION_MAX_AGE = -1

    response = client.get(path)

    assert response.status_code == 410


def test_tampered_invitation_link_is_not_found(client, invitation):
    token = services.invitation_token(invitation)
    forged = signing.TimestampSigner(salt="other").sign_object(
        {"id": invitation.pk, "nonce": invitation.nonce}
    )
    last = token[-1]
    tampered = token[:-1] + ("A" if last != "A" else "B")

    responses = [client.get(f"/invitations/{t}/") for t in (tampered, forged, "garbage")]

    assert [r.status_code for r in responses] == [404, 404, 404]
    assert responses[0].context["error"] == "This invitation link is not valid."
    assert not Membership.objects.filter(user__email="newcomer@a.example").exists()


def test_withdrawn_invitation_is_gone(client, admin, invitation):
    services.revoke_invitation(admin, invitation)

    response = client.get(_path(invitation))

    assert response.status_code == 410
    assert response.context["error"] == "This invitation was withdrawn."


def test_invitation_refuses_someone_else_logged_in(marketer_client, invitation, marketer):
    page = marketer_client.get(_path(invitation))
    response = marketer_client.post(_path(invitation), {})

    assert page.status_code == 200
    assert b"You are logged in as someone else." in page.content
    assert response.status_code == 403
    assert response.context["refusal"] == (
        "This invitation is for newcomer@a.example; you are logged in as another person."
    )
    assert not Membership.objects.filter(user__email="newcomer@a.example").exists()
    invitation.refresh_from_db()
    assert invitation.is_open


def test_invitation_for_existing_account_asks_to_log_in_first(client, admin, org_b):
    make_user("someone@b.example")
    invitation = services.invite_member(admin, "someone@b.example", Role.APPROVER)
    path = _path(invitation)

    page = client.get(path)
    refused = _accept(client, path)

    assert page.status_code == 200
    assert page.context["must_log_in"] is True
    assert page.context["login_url"] == f"/login/?next={quote(path, safe='/')}"
    assert b'name="password1"' not in page.content
    assert refused.status_code == 403
    assert refused.context["refusal"] == (
        "You already have an account: log in first, then open the link again."
    )
    assert not Membership.objects.filter(user__email="someone@b.example").exists()


def test_invitation_accepted_by_the_logged_in_invitee(client, admin, outsider, org_a):
    invitation = services.invite_member(admin, "outsider@b.example", Role.VIEWER)
    client.post("/login/", {"username": "outsider@b.example", "password": PASSWORD})

    page = client.get(_path(invitation))
    # A browser always sends the CSRF token, so the form is bound but has no passwords.
    response = client.post(_path(invitation), {"csrfmiddlewaretoken": "x"})

    assert page.status_code == 200
    assert page.context["logged_in_as_invitee"] is True
    assert response.status_code == 302
    assert response["Location"] == "/o/org-a/"
    membership = Membership.objects.get(user=outsider.user, organization=org_a)
    assert membership.role == "viewer"
    assert outsider.user.check_password(PASSWORD)


def test_invitation_rejects_weak_password_and_keeps_link_open(client, invitation):
    response = client.post(_path(invitation), {"password1": "short", "password2": "short"})

    assert response.status_code == 400
    assert response.context["form"].errors == {
        "password1": ["This password is too short. It must contain at least 12 characters."]
    }
    invitation.refresh_from_db()
    assert invitation.is_open


def test_invitation_rejects_differing_passwords(client, invitation):
    response = client.post(
        _path(invitation), {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD + "x"}
    )

    assert response.status_code == 400
    assert response.context["form"].errors == {"password2": ["The two passwords differ."]}


def test_revoke_invitation_withdraws_it(admin_client, invitation, org_a, audit_actions):
    response = admin_client.post(f"/o/org-a/invitations/{invitation.pk}/revoke/")

    invitation.refresh_from_db()
    assert response.status_code == 302
    assert invitation.revoked_at is not None
    assert invitation.revoked_at <= timezone.now()
    assert audit_actions(org_a)[-1] == "invitation_revoked"
