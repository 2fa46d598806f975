"""The alerts page: admins list and acknowledge alerts and edit thresholds (audited)."""

from __future__ import annotations

import time

import pytest
from celery.contrib.testing.worker import start_worker

from audit import alerts, record
from audit.enums import Action
from audit.models import Alert, AlertKind, AlertRule, AuditEntry
from config.celery import app
from tests.factories import make_member, make_organization

URL = "/o/org-a/alerts/"


def _alert(org, actor, rows: int = 5000) -> Alert:
    entry = record(Action.CONTACTS_EXPORTED, actor=actor, organization=org, rows=rows)
    [alert] = alerts.evaluate_entry(entry.pk)
    return alert


def test_alerts_page_lists_open_alerts_of_the_organisation(
    admin_client, admin, marketer, org_b, outsider, django_assert_num_queries
):
    mine = _alert(admin.organization, marketer.user)
    theirs = _alert(org_b, outsider.user)

    # Session, user, OTP device, membership, alert count, navigation, alerts, and the
    # session's activity stamp written back (an UPDATE between a savepoint and its release).
    with django_assert_num_queries(10):
        response = admin_client.get(URL)

    assert response.status_code == 200
    assert list(response.context["page_obj"]) == [mine]
    assert response.context["open_count"] == 1
    assert b"marketer@a.example exported 5000 rows" in response.content
    assert f'data-testid="alert-{theirs.pk}"'.encode() not in response.content


def test_alerts_page_query_count_does_not_grow_with_alerts(
    admin_client, admin, marketer, django_assert_num_queries
):
    for _ in range(5):
        alert = _alert(admin.organization, marketer.user)
        alerts.acknowledge_alert(admin, alert)

    # As above, plus the open count (the list shows acknowledged alerts too).
    with django_assert_num_queries(11):
        response = admin_client.get(URL + "?show=all")

    assert len(response.context["page_obj"]) == 5


@pytest.mark.parametrize("client_name", ["marketer_client", "approver_client", "viewer_client"])
def test_alerts_page_is_for_admins_only(request, client_name, admin):
    client = request.getfixturevalue(client_name)

    assert client.get(URL).status_code == 403
    assert client.post(URL + "acknowledge/", {"alert": "1"}).status_code == 403
    assert client.get(URL + "thresholds/").status_code == 403


def test_alerts_page_is_not_found_for_an_outsider(outsider_client, admin, marketer):
    alert = _alert(admin.organization, marketer.user)

    assert outsider_client.get(URL).status_code == 404
    assert outsider_client.post(URL + "acknowledge/", {"alert": alert.pk}).status_code == 404


def test_acknowledging_an_alert_is_audited(admin_client, admin, marketer):
    alert = _alert(admin.organization, marketer.user)

    response = admin_client.post(URL + "acknowledge/", {"alert": alert.pk})

    assert response.status_code == 302
    alert.refresh_from_db()
    assert alert.acknowledged_by == admin.user
    assert alert.acknowledged_at is not None
    entry = AuditEntry.objects.filter(action=Action.ALERT_ACKNOWLEDGED).get()
    assert (entry.actor, entry.organization, entry.target_id) == (
        admin.user,
        admin.organization,
        str(alert.pk),
    )
    assert entry.details == {"kind": "large_export", "alert_entry": alert.audit_entry_id}
    # Acknowledged alerts leave the default list.
    assert list(admin_client.get(URL).context["page_obj"]) == []


def test_acknowledging_twice_is_audited_once(admin_client, admin, marketer):
    alert = _alert(admin.organization, marketer.user)

    admin_client.post(URL + "acknowledge/", {"alert": alert.pk})
    admin_client.post(URL + "acknowledge/", {"alert": alert.pk})

    assert AuditEntry.objects.filter(action=Action.ALERT_ACKNOWLEDGED).count() == 1


def test_another_organisations_alert_cannot_be_acknowledged(admin_client, org_b, outsider):
    theirs = _alert(org_b, outsider.user)

    response = admin_client.post(URL + "acknowledge/", {"alert": theirs.pk})
    malformed = admin_client.post(URL + "acknowledge/", {"alert": "1 OR 1=1"})

    assert (response.status_code, malformed.status_code) == (404, 404)
    theirs.refresh_from_db()
    assert theirs.acknowledged_at is None


def test_admin_edits_thresholds_and_the_change_is_audited(admin_client, admin):
    form = {
        "export_rows": "50",
        "deleted_contacts_per_hour": "100",
        "failed_logins": "5",
        "failed_login_window_minutes": "15",
        "large_campaign_recipients": "5000",
        "business_hours_start": "8",
        "business_hours_end": "20",
        "weekends_outside_business_hours": "on",
    }

    response = admin_client.post(URL + "thresholds/", form)

    assert response.status_code == 302
    rule = AlertRule.objects.get(organization=admin.organization)
    assert (rule.export_rows, rule.business_hours_start, rule.business_hours_end) == (50, 8, 20)
    assert rule.updated_by == admin.user
    entry = AuditEntry.objects.filter(action=Action.ALERT_RULES_CHANGED).get()
    assert entry.details == {
        "changes": {
            "export_rows": [1000, 50],
            "business_hours_start": [9, 8],
            "business_hours_end": [19, 20],
        }
    }


def test_thresholds_refuse_business_hours_that_end_before_they_start(admin_client, admin):
    response = admin_client.post(
        URL + "thresholds/",
        {
            "export_rows": "1000",
            "deleted_contacts_per_hour": "100",
            "failed_logins": "5",
            "failed_login_window_minutes": "15",
            "large_campaign_recipients": "5000",
            "business_hours_start": "18",
            "business_hours_end": "9",
        },
    )

    assert response.status_code == 400
    assert "Business hours must end after they start." in response.content.decode()
    assert not AlertRule.objects.exists()
    assert not AuditEntry.objects.filter(action=Action.ALERT_RULES_CHANGED).exists()


# --- The real queue -------------------------------------------------------------------


@pytest.fixture
def worker(transactional_db, settings):
    # A live worker thread consuming the project's Redis queue; it shares this database.
    app.conf.broker_url = settings.CELERY_BROKER_URL
    # Messages other tests queued and never consumed (their entries are long gone) would
    # otherwise be worked through first.
    app.control.purge()
    with start_worker(app, perform_ping_check=False, pool="solo", shutdown_timeout=10):
        yield


@pytest.mark.slow
def test_a_written_entry_is_evaluated_by_the_worker(worker, mailoutbox):
    org = make_organization("org-worker")
    admin = make_member(org, "admin", "admin@worker.example")
    marketer = make_member(org, "marketer", "marketer@worker.example")

    # No surrounding transaction: the entry commits at once and its task is sent.
    record(Action.CONTACTS_EXPORTED, actor=marketer.user, organization=org, rows=20_000)

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not Alert.objects.filter(organization=org).exists():
        time.sleep(0.2)
    alert = Alert.objects.get(organization=org)
    assert alert.kind == AlertKind.LARGE_EXPORT
    assert alert.details["rows"] == 20_000
    while time.monotonic() < deadline and not mailoutbox:
        time.sleep(0.2)
    assert [m.to for m in mailoutbox] == [[admin.user.email]]
