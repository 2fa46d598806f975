"""Alerts fire on their pattern, not on ordinary use, and reach the admins once."""

from __future__ import annotations

import datetime
import zoneinfo
from unittest import mock

import pytest
from django.utils import timezone

from accounts import services as accounts_services
from accounts.enums import Role
from audit import alerts, record
from audit.enums import Action
from audit.models import Alert, AlertKind, AlertRule, AlertSeverity, AuditEntry
from audit.services import record_for_user
from tests.factories import PASSWORD, make_member
from tests.security.conftest import request_from


def _kinds(raised) -> list[str]:
    return [alert.kind for alert in raised]


# --- Exports ----------------------------------------------------------------------------


def test_large_export_alerts_over_the_threshold(org_a, admin, marketer, evaluate):
    record(Action.CONTACTS_EXPORTED, actor=marketer.user, organization=org_a, rows=1001)

    [alert] = evaluate()

    assert (alert.kind, alert.severity, alert.organization) == (
        AlertKind.LARGE_EXPORT,
        AlertSeverity.WARNING,
        org_a,
    )
    assert alert.message == (
        "marketer@a.example exported 1001 rows (contacts); the threshold is 1000."
    )
    assert alert.details == {"rows": 1001, "threshold": 1000, "export": "contacts_exported"}
    assert alert.audit_entry.action == Action.CONTACTS_EXPORTED


def test_export_at_the_threshold_is_ordinary_use(org_a, marketer, evaluate):
    record(Action.CONTACTS_EXPORTED, actor=marketer.user, organization=org_a, rows=1000)
    record(Action.AUDIT_EXPORTED, actor=marketer.user, organization=org_a, rows=3, filters={})

    assert evaluate() == []


def test_large_audit_export_alerts_with_the_organisations_threshold(org_a, admin, evaluate):
    AlertRule.objects.create(organization=org_a, export_rows=10)
    record(Action.AUDIT_EXPORTED, actor=admin.user, organization=org_a, rows=11, filters={})

    [alert] = evaluate()

    assert alert.kind == AlertKind.LARGE_EXPORT
    assert alert.details["threshold"] == 10
    assert "(audit log)" in alert.message


# --- Deletions --------------------------------------------------------------------------


def _delete_contacts(org, actor, count: int) -> None:
    for n in range(count):
        record(Action.CONTACT_DELETED, actor=actor, organization=org, contact_id=n)


def test_many_contacts_deleted_within_an_hour_alert_once(org_a, marketer, evaluate):
    AlertRule.objects.create(organization=org_a, deleted_contacts_per_hour=5)
    _delete_contacts(org_a, marketer.user, 9)

    raised = evaluate()

    assert _kinds(raised) == [AlertKind.MASS_DELETION]
    assert raised[0].severity == AlertSeverity.CRITICAL
    assert raised[0].details == {"deleted": 6, "threshold": 5}
    assert raised[0].audit_entry.details == {"contact_id": 5}


def test_deletions_up_to_the_threshold_do_not_alert(org_a, marketer, org_b, outsider, evaluate):
    AlertRule.objects.create(organization=org_a, deleted_contacts_per_hour=5)
    _delete_contacts(org_a, marketer.user, 5)
    # Another organisation's deletions never count towards A's.
    _delete_contacts(org_b, outsider.user, 5)

    assert evaluate() == []


# --- Failed logins ----------------------------------------------------------------------


def _fail_login(client, email: str, ip: str):
    return client.post("/login/", {"username": email, "password": "wrong"}, REMOTE_ADDR=ip)


def test_failed_logins_on_one_account_alert_once(client, org_a, admin, evaluate, settings):
    settings.AXES_FAILURE_LIMIT = 100
    for n in range(4):
        _fail_login(client, "admin@a.example", f"192.0.2.{n + 1}")
    assert evaluate() == []

    _fail_login(client, "admin@a.example", "192.0.2.9")
    _fail_login(client, "admin@a.example", "192.0.2.10")
    raised = evaluate()

    assert _kinds(raised) == [AlertKind.FAILED_LOGINS_ACCOUNT]
    assert raised[0].message == "5 failed logins on admin@a.example within 15 minutes."
    assert raised[0].dedupe_key == f"account:accounts.user:{admin.user.pk}"


def test_failed_logins_from_one_address_alert(
    client, org_a, admin, marketer, viewer, approver, evaluate, settings
):
    settings.AXES_FAILURE_LIMIT = 100
    for email in ["admin@a.example", "marketer@a.example", "viewer@a.example"]:
        _fail_login(client, email, "198.51.100.7")
    extra = [make_member(org_a, Role.VIEWER, f"v{n}@a.example") for n in range(2)]
    for membership in extra:
        _fail_login(client, membership.user.email, "198.51.100.7")

    raised = evaluate()

    assert _kinds(raised) == [AlertKind.FAILED_LOGINS_ADDRESS]
    assert raised[0].details == {
        "threshold": 5,
        "minutes": 15,
        "failures": 5,
        "ip": "198.51.100.7",
    }


def test_failed_logins_spread_over_time_do_not_alert(org_a, admin, evaluate):
    request = request_from("203.0.113.5")
    twenty_minutes_ago = timezone.now() - datetime.timedelta(minutes=20)

    def fail():
        record_for_user(Action.LOGIN_FAILED, admin.user, request, label="admin@a.example")

    # The clock is the one thing a test cannot wait for: written 20 minutes ago.
    with mock.patch("django.utils.timezone.now", return_value=twenty_minutes_ago):
        for _ in range(4):
            fail()
    fail()

    assert AuditEntry.objects.filter(action=Action.LOGIN_FAILED).count() == 5
    assert evaluate() == []


def test_a_wrong_password_then_success_is_ordinary_use(client, org_a, admin, evaluate):
    _fail_login(client, "admin@a.example", "192.0.2.1")
    client.post("/login/", {"username": "admin@a.example", "password": PASSWORD})

    assert evaluate() == []


# --- Admin logins from a new address ----------------------------------------------------


def _login(client, email: str, ip: str):
    response = client.post("/login/", {"username": email, "password": PASSWORD}, REMOTE_ADDR=ip)
    assert response.status_code == 302
    client.logout()


def test_admin_login_from_a_new_address_alerts(client, org_a, admin, evaluate):
    _login(client, "admin@a.example", "192.0.2.10")
    _login(client, "admin@a.example", "192.0.2.10")
    assert evaluate() == []

    _login(client, "admin@a.example", "192.0.2.99")
    [alert] = evaluate()

    assert alert.kind == AlertKind.ADMIN_NEW_ADDRESS
    assert (
        alert.message
        == "Admin admin@a.example logged in from 192.0.2.99, an address not seen before."
    )


def test_non_admin_login_from_a_new_address_is_ordinary(client, org_a, marketer, evaluate):
    _login(client, "marketer@a.example", "192.0.2.10")
    _login(client, "marketer@a.example", "192.0.2.11")

    assert evaluate() == []


def test_admins_first_login_is_not_an_alert(client, org_a, admin, evaluate):
    _login(client, "admin@a.example", "192.0.2.10")

    assert evaluate() == []


# --- Roles ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after", "alerts_expected"),
    [
        (Role.MARKETER, Role.ADMIN, True),
        (Role.VIEWER, Role.APPROVER, True),
        (Role.APPROVER, Role.ADMIN, True),
        (Role.VIEWER, Role.MARKETER, False),
        (Role.ADMIN, Role.APPROVER, False),
        (Role.APPROVER, Role.VIEWER, False),
    ],
)
def test_role_raised_to_admin_or_approver_alerts(
    org_a, admin, evaluate, before, after, alerts_expected
):
    target = make_member(org_a, before, "target@a.example")

    accounts_services.change_role(admin, target, after)
    raised = evaluate()

    if alerts_expected:
        [alert] = raised
        assert alert.kind == AlertKind.ROLE_RAISED
        assert alert.details == {"before": before, "after": after, "member": "target@a.example"}
    else:
        assert raised == []


# --- API tokens -------------------------------------------------------------------------


def test_api_token_created_alerts(org_a, marketer, evaluate):
    record(
        Action.API_TOKEN_CREATED,
        actor=marketer.user,
        organization=org_a,
        name="CI export",
        prefix="abcdefgh1234",
        scopes=["read"],
    )

    [alert] = evaluate()

    assert (alert.kind, alert.severity) == (AlertKind.API_TOKEN_CREATED, AlertSeverity.INFO)
    assert alert.message == (
        "marketer@a.example created an API token (CI export, tyr_abcdefgh1234_…)."
    )
    assert alert.details == {"name": "CI export", "prefix": "abcdefgh1234", "scopes": ["read"]}


# --- Approvals outside business hours ---------------------------------------------------


def _tokyo(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=zoneinfo.ZoneInfo("Asia/Tokyo"))


@pytest.mark.parametrize(
    ("moment", "outside"),
    [
        (_tokyo(2026, 12, 1, 9, 0), False),  # Tuesday, opening time
        (_tokyo(2026, 12, 1, 18, 59), False),
        (_tokyo(2026, 12, 1, 19, 0), True),
        (_tokyo(2026, 12, 1, 8, 59), True),
        (_tokyo(2026, 12, 5, 11, 0), True),  # Saturday
        # 01:30 UTC is 10:30 in Tokyo: the organisation's time zone decides.
        (datetime.datetime(2026, 12, 1, 1, 30, tzinfo=datetime.UTC), False),
    ],
)
def test_business_hours_are_read_in_the_organisations_time_zone(moment, outside):
    rule = AlertRule()

    assert alerts.outside_business_hours(moment, rule, "Asia/Tokyo") is outside


def _rule_excluding_now(org, *, inside: bool) -> AlertRule:
    hour = timezone.now().astimezone(zoneinfo.ZoneInfo(org.time_zone)).hour
    if inside:
        start, end = hour, hour + 1
    elif hour < 23:
        start, end = hour + 1, 24
    else:
        start, end = 0, hour
    return AlertRule.objects.create(
        organization=org,
        large_campaign_recipients=5000,
        business_hours_start=start,
        business_hours_end=end,
        weekends_outside_business_hours=False,
    )


def test_large_campaign_approved_outside_business_hours_alerts(org_a, approver, evaluate):
    _rule_excluding_now(org_a, inside=False)
    record(
        Action.CAMPAIGN_APPROVED,
        actor=approver.user,
        organization=org_a,
        recipient_count=5001,
        approvers=["approver@a.example"],
    )

    [alert] = evaluate()

    assert alert.kind == AlertKind.OFF_HOURS_APPROVAL
    assert alert.details["recipient_count"] == 5001


def test_large_campaign_approved_in_business_hours_is_ordinary(org_a, approver, evaluate):
    _rule_excluding_now(org_a, inside=True)
    record(Action.CAMPAIGN_APPROVED, actor=approver.user, organization=org_a, recipient_count=9999)

    assert evaluate() == []


def test_small_campaign_approved_at_night_is_ordinary(org_a, approver, evaluate):
    _rule_excluding_now(org_a, inside=False)
    record(Action.CAMPAIGN_APPROVED, actor=approver.user, organization=org_a, recipient_count=5000)

    assert evaluate() == []


# --- Delivery of alerts -----------------------------------------------------------------


def test_each_alert_emails_every_admin_separately(
    org_a, admin, marketer, viewer, mailoutbox, django_capture_on_commit_callbacks
):
    second_admin = make_member(org_a, Role.ADMIN, "second-admin@a.example")
    departed = make_member(org_a, Role.ADMIN, "departed@a.example").user
    departed.is_active = False
    departed.save()
    entry = record(Action.CONTACTS_EXPORTED, actor=marketer.user, organization=org_a, rows=5000)

    with django_capture_on_commit_callbacks(execute=True):
        raised = alerts.evaluate_entry(entry.pk)

    assert len(raised) == 1
    assert sorted(m.to for m in mailoutbox) == [["admin@a.example"], [second_admin.user.email]]
    message = mailoutbox[0]
    assert message.cc == [] and message.bcc == []
    assert message.subject == "[Tayori] Alert in Organisation A: Large export"
    assert "marketer@a.example exported 5000 rows (contacts)" in message.body
    assert "http://127.0.0.1:8000/o/org-a/alerts/" in message.body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html"
    assert "marketer@a.example exported 5000 rows (contacts)" in html


def test_evaluating_an_entry_again_raises_and_mails_nothing_more(
    org_a, admin, marketer, mailoutbox, django_capture_on_commit_callbacks
):
    entry = record(Action.CONTACTS_EXPORTED, actor=marketer.user, organization=org_a, rows=5000)
    with django_capture_on_commit_callbacks(execute=True):
        first = alerts.evaluate_entry(entry.pk)
        again = alerts.evaluate_entry(entry.pk)
        swept = alerts.sweep()

    assert (len(first), again, swept) == (1, [], 0)
    assert Alert.objects.count() == 1
    assert len(mailoutbox) == 1


def test_the_sweep_evaluates_entries_whose_task_never_ran(org_a, admin, marketer):
    record(Action.CONTACTS_EXPORTED, actor=marketer.user, organization=org_a, rows=5000)

    assert alerts.sweep() == 1
    assert Alert.objects.get().kind == AlertKind.LARGE_EXPORT


def test_record_queues_an_evaluation_for_watched_actions_only(
    org_a, marketer, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as watched:
        record(Action.CONTACTS_EXPORTED, actor=marketer.user, organization=org_a, rows=1)
    with django_capture_on_commit_callbacks() as ordinary:
        record(Action.CONTACT_CREATED, actor=marketer.user, organization=org_a)
        record(Action.LOGIN_FAILED, actor="nobody@example.com", organization=None)

    assert len(watched) == 1
    assert ordinary == []
