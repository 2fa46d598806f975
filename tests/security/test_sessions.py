"""Signed-in sessions: listed per person, signed out remotely, ended everywhere by an admin."""

from __future__ import annotations

import datetime

from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from accounts import sessions
from accounts.models import UserSession
from audit.enums import Action
from audit.models import AuditEntry
from tests.factories import PASSWORD, login_verified

CHROME = "Mozilla/5.0 (Windows NT 10.0) Chrome/131.0"
SAFARI = "Mozilla/5.0 (iPhone) Safari/605.1"


def _signed_in(email: str, ip: str, agent: str) -> Client:
    client = Client(REMOTE_ADDR=ip, HTTP_USER_AGENT=agent)
    response = client.post("/login/", {"username": email, "password": PASSWORD})
    assert response.status_code == 302
    return client


def _is_signed_in(client: Client) -> bool:
    response = client.get("/account/security/")
    return response.status_code == 200


def test_login_records_the_session_with_its_address_and_browser(marketer):
    client = _signed_in("marketer@a.example", "192.0.2.10", CHROME)

    row = UserSession.objects.get()
    assert (row.user, row.ip, row.user_agent) == (marketer.user, "192.0.2.10", CHROME)
    assert row.session_key == client.session.session_key


def test_sessions_page_lists_own_sessions_only(marketer, viewer):
    office = _signed_in("marketer@a.example", "192.0.2.10", CHROME)
    _signed_in("marketer@a.example", "198.51.100.20", SAFARI)
    _signed_in("viewer@a.example", "203.0.113.30", CHROME)

    response = office.get("/account/sessions/")

    assert response.status_code == 200
    rows = response.context["sessions"]
    assert sorted(row.ip for row in rows) == ["192.0.2.10", "198.51.100.20"]
    assert [row.ip for row in rows if row.is_current] == ["192.0.2.10"]
    content = response.content.decode()
    assert SAFARI in content and "203.0.113.30" not in content
    # The session key is a credential: never on the page.
    for row in rows:
        assert row.session_key not in content


def test_signing_out_another_session_ends_it_and_is_audited(marketer, org_a):
    office = _signed_in("marketer@a.example", "192.0.2.10", CHROME)
    phone = _signed_in("marketer@a.example", "198.51.100.20", SAFARI)
    phone_row = UserSession.objects.get(ip="198.51.100.20")

    response = office.post("/account/sessions/sign-out/", {"session": phone_row.pk})

    assert response.status_code == 302
    assert _is_signed_in(office)
    assert not _is_signed_in(phone)
    assert not Session.objects.filter(session_key=phone_row.session_key).exists()
    entry = AuditEntry.objects.get(action=Action.SESSION_SIGNED_OUT)
    assert (entry.organization, entry.actor, entry.ip) == (org_a, marketer.user, "192.0.2.10")
    assert entry.details == {
        "ip_of_session": "198.51.100.20",
        "user_agent_of_session": SAFARI,
        "current": False,
    }


def test_nobody_signs_out_someone_elses_session(marketer, viewer):
    attacker = _signed_in("viewer@a.example", "192.0.2.66", CHROME)
    victim = _signed_in("marketer@a.example", "192.0.2.10", CHROME)
    victims_row = UserSession.objects.get(user=marketer.user)

    response = attacker.post("/account/sessions/sign-out/", {"session": victims_row.pk})
    malformed = attacker.post("/account/sessions/sign-out/", {"session": "x"})

    assert (response.status_code, malformed.status_code) == (404, 404)
    assert _is_signed_in(victim)


def test_signing_out_all_other_sessions_keeps_this_one(marketer):
    office = _signed_in("marketer@a.example", "192.0.2.10", CHROME)
    others = [_signed_in("marketer@a.example", f"198.51.100.{n}", SAFARI) for n in (1, 2)]

    office.post("/account/sessions/sign-out-others/")

    assert _is_signed_in(office)
    assert [_is_signed_in(c) for c in others] == [False, False]
    assert list(UserSession.objects.values_list("ip", flat=True)) == ["192.0.2.10"]


def test_logout_removes_the_sessions_row(marketer):
    client = _signed_in("marketer@a.example", "192.0.2.10", CHROME)

    client.post("/logout/")

    assert not UserSession.objects.exists()


def test_the_row_is_refreshed_at_most_once_a_minute(marketer):
    client = _signed_in("marketer@a.example", "192.0.2.10", CHROME)
    row = UserSession.objects.get()

    client.get("/account/security/", REMOTE_ADDR="192.0.2.11")
    unchanged = UserSession.objects.get()
    session = client.session
    session[sessions.TOUCHED_AT_KEY] -= 61
    session.save()
    client.get("/account/security/", REMOTE_ADDR="192.0.2.12")
    refreshed = UserSession.objects.get()

    assert (unchanged.ip, unchanged.last_seen_at) == (row.ip, row.last_seen_at)
    assert refreshed.ip == "192.0.2.12"
    assert refreshed.last_seen_at > row.last_seen_at


def test_ended_sessions_drop_off_the_list(marketer):
    office = _signed_in("marketer@a.example", "192.0.2.10", CHROME)
    _signed_in("marketer@a.example", "198.51.100.20", SAFARI)
    stale = UserSession.objects.get(ip="198.51.100.20")
    Session.objects.filter(session_key=stale.session_key).update(
        expire_date=timezone.now() - datetime.timedelta(seconds=1)
    )

    rows = office.get("/account/sessions/").context["sessions"]

    assert [row.ip for row in rows] == ["192.0.2.10"]
    assert not UserSession.objects.filter(pk=stale.pk).exists()


def test_a_session_from_before_tracking_is_recorded_on_its_next_request(marketer):
    client = Client(HTTP_USER_AGENT=CHROME)
    login_verified(client, marketer.user)
    # As if opened before the feature existed: no row, no stamp.
    UserSession.objects.all().delete()
    session = client.session
    del session[sessions.TOUCHED_AT_KEY]
    session.save()

    client.get("/account/security/")

    assert UserSession.objects.get().user == marketer.user


# --- An admin signs a member out everywhere ---------------------------------------------


def test_admin_signs_a_member_out_everywhere(admin_client, admin, marketer, org_a):
    office = _signed_in("marketer@a.example", "192.0.2.10", CHROME)
    phone = _signed_in("marketer@a.example", "198.51.100.20", SAFARI)

    response = admin_client.post(f"/o/org-a/members/{marketer.pk}/sign-out/")

    assert response.status_code == 302
    assert response["Location"] == "/o/org-a/members/"
    assert [_is_signed_in(office), _is_signed_in(phone)] == [False, False]
    assert _is_signed_in(admin_client)
    entry = AuditEntry.objects.get(action=Action.MEMBER_SIGNED_OUT)
    assert (entry.actor, entry.organization, entry.target_id) == (
        admin.user,
        org_a,
        str(marketer.pk),
    )
    assert entry.details == {"email": "marketer@a.example", "sessions": 2}


def test_only_admins_sign_members_out(marketer_client, approver_client, admin, marketer):
    victim = _signed_in("admin@a.example", "192.0.2.10", CHROME)

    for client in (marketer_client, approver_client):
        assert client.post(f"/o/org-a/members/{admin.pk}/sign-out/").status_code == 403

    assert _is_signed_in(victim)


def test_an_outsider_cannot_sign_out_members(outsider_client, marketer):
    victim = _signed_in("marketer@a.example", "192.0.2.10", CHROME)

    response = outsider_client.post(f"/o/org-a/members/{marketer.pk}/sign-out/")

    assert response.status_code == 404
    assert _is_signed_in(victim)


def test_an_admin_cannot_sign_out_a_member_of_another_organisation(admin_client, outsider):
    victim = _signed_in("outsider@b.example", "192.0.2.10", CHROME)

    response = admin_client.post(f"/o/org-a/members/{outsider.pk}/sign-out/")

    assert response.status_code == 404
    assert _is_signed_in(victim)
