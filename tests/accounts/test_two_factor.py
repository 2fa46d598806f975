"""Two-factor authentication: who must use it, setting it up, and recovery codes."""

from __future__ import annotations

import pytest
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import services
from tests.factories import make_totp_device, totp_code

# Every kind of organisation page: the two-factor check comes before the permission
# check, so even a page the role may not open sends it to two-factor first.
ORG_PAGES = ["", "members/", "members/invite/", "settings/", "audit/"]


@pytest.mark.parametrize("page", ORG_PAGES)
@pytest.mark.parametrize("persona", ["admin", "approver"])
def test_org_page_sends_admin_and_approver_without_device_to_2fa_setup(
    request, password_client, org_a, persona, page
):
    membership = request.getfixturevalue(persona)
    client = password_client(membership.user)

    response = client.get(f"/o/org-a/{page}")

    assert response.status_code == 302
    assert response["Location"] == f"/account/2fa/setup/?next=/o/org-a/{page}"


@pytest.mark.parametrize("persona", ["admin", "approver"])
def test_org_page_sends_unverified_session_with_device_to_2fa_verify(
    request, password_client, persona
):
    membership = request.getfixturevalue(persona)
    make_totp_device(membership.user)
    client = password_client(membership.user)

    response = client.get("/o/org-a/")

    assert response.status_code == 302
    assert response["Location"] == "/account/2fa/verify/?next=/o/org-a/"


def test_2fa_redirect_keeps_the_whole_next_address(password_client, admin):
    client = password_client(admin.user)

    response = client.get("/o/org-a/members/?a=1&b=2")

    assert response["Location"] == "/account/2fa/setup/?next=/o/org-a/members/%3Fa%3D1%26b%3D2"


@pytest.mark.parametrize("persona", ["marketer", "viewer"])
def test_org_page_opens_for_marketer_and_viewer_without_2fa(request, password_client, persona):
    membership = request.getfixturevalue(persona)
    client = password_client(membership.user)

    response = client.get("/o/org-a/")

    assert response.status_code == 200
    assert response.context["current_membership"] == membership


@pytest.mark.parametrize("persona", ["marketer", "viewer"])
def test_org_page_sends_marketer_and_viewer_to_2fa_setup_when_org_requires_2fa(
    request, password_client, org_a, persona
):
    org_a.require_2fa = True
    org_a.save()
    membership = request.getfixturevalue(persona)
    client = password_client(membership.user)

    response = client.get("/o/org-a/")

    assert response.status_code == 302
    assert response["Location"] == "/account/2fa/setup/?next=/o/org-a/"


def test_org_page_asks_marketer_who_turned_2fa_on_for_the_code(password_client, marketer):
    # Their role does not require it, but a password alone must not get past a second
    # factor the person chose to use.
    make_totp_device(marketer.user)
    client = password_client(marketer.user)

    response = client.get("/o/org-a/")

    assert response.status_code == 302
    assert response["Location"] == "/account/2fa/verify/?next=/o/org-a/"


@pytest.mark.parametrize("persona", ["admin", "approver"])
def test_org_page_opens_for_verified_session(request, persona):
    client = request.getfixturevalue(f"{persona}_client")

    response = client.get("/o/org-a/")

    assert response.status_code == 200
    assert response.context["current_membership"].role == persona


def test_2fa_setup_enrols_device_and_shows_recovery_codes(password_client, admin):
    client = password_client(admin.user)
    page = client.get("/account/2fa/setup/?next=/o/org-a/")
    device = TOTPDevice.objects.get(user=admin.user, confirmed=False)

    response = client.post("/account/2fa/setup/", {"token": totp_code(device), "next": "/o/org-a/"})

    assert page.status_code == 200
    assert response.status_code == 200
    assert response.templates[0].name == "accounts/recovery_codes.html"
    codes = response.context["codes"]
    assert len(codes) == services.RECOVERY_CODE_COUNT
    assert sorted(codes) == sorted(
        StaticToken.objects.filter(device__user=admin.user).values_list("token", flat=True)
    )
    device.refresh_from_db()
    assert device.confirmed is True
    assert response.context["next"] == "/o/org-a/"
    assert client.get("/o/org-a/").status_code == 200


def test_2fa_setup_rejects_wrong_code(password_client, admin, audit_actions, org_a):
    client = password_client(admin.user)
    client.get("/account/2fa/setup/")

    response = client.post("/account/2fa/setup/", {"token": "000000"})

    assert response.status_code == 200
    assert response.context["form"].errors == {
        "token": ["That code is not right. Check the time on your phone."]
    }
    assert TOTPDevice.objects.filter(user=admin.user, confirmed=True).count() == 0
    assert audit_actions(org_a)[-1] == "2fa_failed"


def test_2fa_setup_refuses_to_replace_device_without_verifying_first(password_client, admin):
    # Otherwise a stolen password would be enough to enrol the thief's phone.
    original = make_totp_device(admin.user)
    client = password_client(admin.user)

    page = client.get("/account/2fa/setup/?next=/o/org-a/")
    attempt = client.post("/account/2fa/setup/", {"token": "123456"})

    assert page.status_code == 302
    assert page["Location"] == "/account/2fa/verify/?next=/o/org-a/"
    assert attempt.status_code == 302
    assert list(TOTPDevice.objects.filter(user=admin.user)) == [original]
    assert client.get("/o/org-a/").status_code == 302


def test_2fa_verify_with_totp_code_marks_session_verified(password_client, admin):
    device = make_totp_device(admin.user)
    client = password_client(admin.user)

    response = client.post(
        "/account/2fa/verify/", {"token": totp_code(device), "next": "/o/org-a/members/"}
    )

    assert response.status_code == 302
    assert response["Location"] == "/o/org-a/members/"
    assert client.get("/o/org-a/members/").status_code == 200


def test_2fa_verify_ignores_next_pointing_elsewhere(password_client, admin):
    device = make_totp_device(admin.user)
    client = password_client(admin.user)

    response = client.post(
        "/account/2fa/verify/", {"token": totp_code(device), "next": "https://evil.example/"}
    )

    assert response["Location"] == "/"


def test_recovery_code_verifies_once(password_client, admin, audit_actions, org_a):
    make_totp_device(admin.user)
    code = services.generate_recovery_codes(admin.user)[0]
    first = password_client(admin.user)
    second = password_client(admin.user)

    used = first.post("/account/2fa/verify/", {"token": code, "next": "/o/org-a/"})
    reused = second.post("/account/2fa/verify/", {"token": code, "next": "/o/org-a/"})

    assert used.status_code == 302
    assert used["Location"] == "/o/org-a/"
    assert first.get("/o/org-a/").status_code == 200
    assert reused.status_code == 200
    assert reused.context["form"].errors == {
        "token": ["That code is not right, or was already used."]
    }
    assert second.get("/o/org-a/")["Location"] == "/account/2fa/verify/?next=/o/org-a/"
    assert StaticToken.objects.filter(device__user=admin.user).count() == 9
    assert audit_actions(org_a)[-1] == "2fa_failed"


def test_new_recovery_codes_replace_the_old_ones(admin_client, admin):
    old = services.generate_recovery_codes(admin.user)

    response = admin_client.post("/account/2fa/recovery-codes/")

    new = response.context["codes"]
    assert response.status_code == 200
    assert len(new) == services.RECOVERY_CODE_COUNT
    assert set(new).isdisjoint(old)
    assert sorted(
        StaticToken.objects.filter(device__user=admin.user).values_list("token", flat=True)
    ) == sorted(new)


def test_new_recovery_codes_need_a_verified_session(password_client, admin):
    make_totp_device(admin.user)
    client = password_client(admin.user)

    response = client.post("/account/2fa/recovery-codes/")

    assert response.status_code == 302
    assert response["Location"] == "/account/2fa/verify/?next=/account/security/"
    assert not StaticToken.objects.filter(device__user=admin.user).exists()
