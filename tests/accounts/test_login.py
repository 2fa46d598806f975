"""Logging in through the real form: password, second factor, lockout."""

from __future__ import annotations

import pytest
from django.conf import settings

from accounts.models import User
from tests.factories import PASSWORD, make_totp_device, totp_code


def test_login_with_password_and_totp_code_reaches_dashboard(client, admin, audit_actions, org_a):
    device = make_totp_device(admin.user)

    page = client.get("/login/")
    password_step = client.post("/login/", {"username": "admin@a.example", "password": PASSWORD})
    code_page = client.get(password_step["Location"])
    code_step = client.post(
        "/account/2fa/verify/", {"token": totp_code(device), "next": "/"}, follow=True
    )

    assert page.status_code == 200
    assert password_step.status_code == 302
    assert password_step["Location"] == "/account/2fa/verify/?next=/"
    assert code_page.status_code == 200
    assert code_step.redirect_chain == [("/", 302), ("/o/org-a/", 302)]
    assert code_step.status_code == 200
    assert code_step.context["current_org"] == org_a
    assert b"<h1>Organisation A</h1>" in code_step.content
    assert audit_actions(org_a) == ["login"]


def test_login_keeps_next_through_the_second_factor(client, admin):
    device = make_totp_device(admin.user)

    password_step = client.post(
        "/login/?next=/o/org-a/members/", {"username": "admin@a.example", "password": PASSWORD}
    )
    code_step = client.post(
        "/account/2fa/verify/", {"token": totp_code(device), "next": "/o/org-a/members/"}
    )

    assert password_step["Location"] == "/account/2fa/verify/?next=/o/org-a/members/"
    assert code_step["Location"] == "/o/org-a/members/"
    assert client.get("/o/org-a/members/").status_code == 200


def test_login_ignores_case_of_the_address(client, marketer):
    response = client.post("/login/", {"username": "Marketer@A.Example", "password": PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.session["_auth_user_id"] == str(marketer.user.pk)


def test_login_with_wrong_password_shows_error_and_records_failure(
    client, admin, audit_actions, org_a
):
    response = client.post("/login/", {"username": "admin@a.example", "password": "wrong"})

    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [
        "Please enter a correct e-mail address and password. Note that both fields may be "
        "case-sensitive."
    ]
    assert "_auth_user_id" not in client.session
    assert audit_actions(org_a) == ["login_failed"]


def _fail(client, username: str):
    return client.post("/login/", {"username": username, "password": "wrong password"})


def test_login_locks_account_after_failure_limit(client, admin, audit_actions, org_a):
    limit = settings.AXES_FAILURE_LIMIT

    before_limit = [_fail(client, "admin@a.example").status_code for _ in range(limit - 1)]
    at_limit = _fail(client, "admin@a.example")
    right_password = client.post("/login/", {"username": "admin@a.example", "password": PASSWORD})

    assert before_limit == [200] * (limit - 1)
    assert at_limit.status_code == 429
    assert right_password.status_code == 429
    assert b"Too many failed logins for this account." in right_password.content
    assert "_auth_user_id" not in client.session
    assert "lockout" in audit_actions(org_a)


def test_login_lockout_counts_every_spelling_of_the_address(client, admin):
    # Login ignores case, so the lockout must too, or each spelling gets its own allowance.
    spellings = ["admin@a.example", "Admin@a.example", "ADMIN@A.EXAMPLE", "aDmin@a.example"]
    spellings += [" admin@A.example"]
    assert len(spellings) == settings.AXES_FAILURE_LIMIT

    statuses = [_fail(client, spelling).status_code for spelling in spellings]
    right_password = client.post("/login/", {"username": "admin@a.example", "password": PASSWORD})

    assert statuses[-1] == 429
    assert right_password.status_code == 429


def test_login_lockout_is_per_account(client, admin, marketer):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _fail(client, "admin@a.example")

    other = client.post("/login/", {"username": "marketer@a.example", "password": PASSWORD})

    assert other.status_code == 302
    assert client.session["_auth_user_id"] == str(marketer.user.pk)


def test_login_refuses_deactivated_user(client, marketer):
    User.objects.filter(pk=marketer.user.pk).update(is_active=False)

    response = client.post("/login/", {"username": "marketer@a.example", "password": PASSWORD})

    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_logout_needs_post(admin_client):
    refused = admin_client.get("/logout/")
    done = admin_client.post("/logout/")

    assert refused.status_code == 405
    assert done.status_code == 302
    assert done["Location"] == "/login/"
    assert admin_client.get("/o/org-a/")["Location"] == "/login/?next=/o/org-a/"


@pytest.mark.parametrize("path", ["/", "/account/security/", "/o/org-a/"])
def test_pages_send_anonymous_visitor_to_login(client, org_a, path):
    response = client.get(path)

    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={path}"
