"""Organisation policies: IP allow-list, session timeout, and the settings form."""

from __future__ import annotations

import time

import pytest

from accounts.access import SESSION_ACTIVITY_KEY
from accounts.models import Membership, Organization
from audit.models import AuditEntry
from tests.factories import make_organization

OFFICE = "203.0.113.0/24"


def _set_idle(client, seconds: float) -> None:
    session = client.session
    session[SESSION_ACTIVITY_KEY] = time.time() - seconds
    session.save()


def _policy_form(organization, **changes) -> dict:
    data = {
        "name": organization.name,
        "time_zone": organization.time_zone,
        "approvals_required": organization.approvals_required,
        "session_timeout_minutes": organization.session_timeout_minutes,
        "ip_allowlist": organization.ip_allowlist,
    }
    if organization.require_2fa:
        data["require_2fa"] = "on"
    data.update(changes)
    return data


# --- IP allow-list ------------------------------------------------------------------


def test_ip_allowlist_refuses_request_from_outside(admin_client, admin, org_a):
    org_a.ip_allowlist = f"# office\n{OFFICE}\n2001:db8::/32"
    org_a.save()

    response = admin_client.get("/o/org-a/", REMOTE_ADDR="198.51.100.9")

    assert response.status_code == 403
    entry = AuditEntry.objects.for_organization(org_a).get(action="ip_refused")
    assert (entry.actor, entry.ip) == (admin.user, "198.51.100.9")


@pytest.mark.parametrize("address", ["203.0.113.77", "2001:db8::5"])
def test_ip_allowlist_lets_request_from_inside(admin_client, org_a, address):
    org_a.ip_allowlist = f"{OFFICE}\n2001:db8::/32"
    org_a.save()

    response = admin_client.get("/o/org-a/", REMOTE_ADDR=address)

    assert response.status_code == 200
    assert not AuditEntry.objects.filter(action="ip_refused").exists()


def test_ip_allowlist_applies_only_to_its_own_organisation(password_client, marketer, org_b, org_a):
    org_a.ip_allowlist = OFFICE
    org_a.save()
    Membership.objects.create(user=marketer.user, organization=org_b, role="viewer")
    client = password_client(marketer.user)

    inside_b = client.get("/o/org-b/", REMOTE_ADDR="198.51.100.9")
    outside_a = client.get("/o/org-a/", REMOTE_ADDR="198.51.100.9")

    assert inside_b.status_code == 200
    assert outside_a.status_code == 403


def test_settings_form_names_the_bad_line_of_the_allowlist(admin_client, org_a):
    data = _policy_form(org_a, ip_allowlist="203.0.113.0/24\n10.0.0.300\n", name="Renamed")

    response = admin_client.post("/o/org-a/settings/", data)

    assert response.status_code == 400
    assert response.context["form"].errors == {
        "ip_allowlist": ["Line 2: 10.0.0.300 is not an IP address or network (CIDR)."]
    }
    org_a.refresh_from_db()
    assert (org_a.name, org_a.ip_allowlist) == ("Organisation A", "")
    # The refused name is not shown as if it were saved (page title, navigation).
    assert response.context["current_org"].name == "Organisation A"
    assert not AuditEntry.objects.filter(action="policy_changed").exists()


# --- Session timeout --------------------------------------------------------------


def test_session_idle_longer_than_timeout_is_logged_out(marketer_client, org_a, audit_actions):
    _set_idle(marketer_client, org_a.session_timeout_minutes * 60 + 5)

    response = marketer_client.get("/o/org-a/members/")

    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/o/org-a/members/"
    assert "_auth_user_id" not in marketer_client.session
    assert audit_actions(org_a)[-1] == "logout"


def test_session_idle_shorter_than_timeout_stays(marketer_client, org_a):
    _set_idle(marketer_client, org_a.session_timeout_minutes * 60 - 30)

    response = marketer_client.get("/o/org-a/")

    assert response.status_code == 200


def test_session_timeout_follows_the_organisations_setting(marketer_client, org_a):
    org_a.session_timeout_minutes = 10
    org_a.save()
    _set_idle(marketer_client, 11 * 60)

    response = marketer_client.get("/o/org-a/")

    assert response["Location"] == "/login/?next=/o/org-a/"


@pytest.mark.parametrize("path", ["/", "/account/security/"])
def test_session_timeout_is_not_revived_by_a_page_outside_the_organisation(
    marketer_client, org_a, path
):
    # A visit to / used to refresh the activity time and so revive the idle session.
    _set_idle(marketer_client, org_a.session_timeout_minutes * 60 + 5)

    first = marketer_client.get(path)
    then = marketer_client.get("/o/org-a/")

    assert first.status_code == 302
    assert first["Location"] == f"/login/?next={path}"
    assert then["Location"] == "/login/?next=/o/org-a/"


def test_session_timeout_uses_strictest_of_the_persons_organisations(
    password_client, marketer, org_a
):
    strict = make_organization("strict", session_timeout_minutes=10)
    Membership.objects.create(user=marketer.user, organization=strict, role="viewer")
    client = password_client(marketer.user)
    _set_idle(client, 15 * 60)

    response = client.get("/o/org-a/")

    assert response["Location"] == "/login/?next=/o/org-a/"


# --- The settings form ---------------------------------------------------------------


def test_settings_form_saves_policies_and_audit_shows_before_and_after(admin_client, org_a):
    data = _policy_form(
        org_a,
        name="Organisation A (JP)",
        approvals_required=2,
        require_2fa="on",
        session_timeout_minutes=30,
        ip_allowlist=OFFICE,
    )

    response = admin_client.post("/o/org-a/settings/", data, REMOTE_ADDR="203.0.113.4")

    assert response.status_code == 302
    assert response["Location"] == "/o/org-a/settings/"
    org_a.refresh_from_db()
    assert (
        org_a.name,
        org_a.approvals_required,
        org_a.require_2fa,
        org_a.session_timeout_minutes,
        org_a.ip_allowlist,
    ) == ("Organisation A (JP)", 2, True, 30, OFFICE)
    entry = AuditEntry.objects.for_organization(org_a).get(action="policy_changed")
    assert entry.details == {
        "changes": {
            "name": ["Organisation A", "Organisation A (JP)"],
            "approvals_required": [1, 2],
            "require_2fa": [False, True],
            "session_timeout_minutes": [60, 30],
            "ip_allowlist": ["", OFFICE],
        }
    }
    assert entry.ip == "203.0.113.4"


def test_settings_form_without_changes_writes_no_audit_entry(admin_client, org_a):
    response = admin_client.post("/o/org-a/settings/", _policy_form(org_a))

    assert response.status_code == 302
    assert not AuditEntry.objects.filter(action="policy_changed").exists()


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        (
            {"session_timeout_minutes": 2},
            {"session_timeout_minutes": ["Ensure this value is greater than or equal to 5."]},
        ),
        (
            {"approvals_required": 0},
            {"approvals_required": ["Ensure this value is greater than or equal to 1."]},
        ),
        (
            {"time_zone": "Mars/Olympus"},
            {
                "time_zone": [
                    "Select a valid choice. Mars/Olympus is not one of the available choices."
                ]
            },
        ),
        ({"name": ""}, {"name": ["This field is required."]}),
    ],
)
def test_settings_form_refuses_bad_values(admin_client, org_a, changes, errors):
    response = admin_client.post("/o/org-a/settings/", _policy_form(org_a, **changes))

    assert response.status_code == 400
    assert response.context["form"].errors == errors
    assert Organization.objects.get(pk=org_a.pk).session_timeout_minutes == 60


@pytest.mark.parametrize("persona", ["marketer", "approver", "viewer"])
def test_settings_form_is_forbidden_to_non_admins(request, org_a, persona):
    client = request.getfixturevalue(f"{persona}_client")

    response = client.post("/o/org-a/settings/", _policy_form(org_a, name="Taken over"))

    assert response.status_code == 403
    org_a.refresh_from_db()
    assert org_a.name == "Organisation A"


# --- Escaping ---------------------------------------------------------------------------


def test_organisation_name_with_markup_is_shown_escaped(admin_client, org_a, admin):
    org_a.name = '<script>alert("x")</script>'
    org_a.save()
    admin.user.full_name = "<b>Bold</b>"
    admin.user.save()

    pages = [admin_client.get(path) for path in ("/o/org-a/", "/o/org-a/members/")]

    for page in pages:
        assert page.status_code == 200
        assert b'<script>alert("x")' not in page.content
        assert b"&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page.content
    assert b"<b>Bold</b>" not in pages[1].content
    assert b"&lt;b&gt;Bold&lt;/b&gt;" in pages[1].content


def test_allowlist_that_excludes_the_admins_own_address_is_refused(admin_client, org_a):
    response = admin_client.post(
        f"/o/{org_a.slug}/settings/", _policy_form(org_a, ip_allowlist=OFFICE)
    )
    assert response.status_code == 400
    assert (
        "This allow-list does not include your own address (127.0.0.1): saving it would "
        "lock you out. Add your address or network first."
    ) in response.content.decode()
    org_a.refresh_from_db()
    assert org_a.ip_allowlist == ""


def test_allowlist_that_includes_the_admins_own_address_is_saved(admin_client, org_a):
    allowlist = f"{OFFICE}\n127.0.0.0/8"
    response = admin_client.post(
        f"/o/{org_a.slug}/settings/", _policy_form(org_a, ip_allowlist=allowlist)
    )
    assert response.status_code == 302
    org_a.refresh_from_db()
    assert org_a.ip_allowlist == allowlist
