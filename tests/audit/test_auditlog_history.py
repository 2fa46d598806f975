"""django-auditlog keeps the field-level history of tenant models, naming the actor."""

from __future__ import annotations

from auditlog.models import LogEntry


def test_policy_change_creates_auditlog_entry_with_request_actor(admin_client, admin, org_a):
    data = {
        "name": org_a.name,
        "time_zone": org_a.time_zone,
        "approvals_required": 2,
        "session_timeout_minutes": org_a.session_timeout_minutes,
        "ip_allowlist": "",
    }

    response = admin_client.post(f"/o/{org_a.slug}/settings/", data, REMOTE_ADDR="198.51.100.4")

    assert response.status_code == 302
    [update] = LogEntry.objects.get_for_object(org_a).filter(action=LogEntry.Action.UPDATE)
    assert update.actor == admin.user
    assert update.changes == {"approvals_required": ["1", "2"]}
    assert update.remote_addr == "198.51.100.4"


def test_role_change_creates_auditlog_entry_with_request_actor(
    admin_client, admin, marketer, org_a
):
    admin_client.post(f"/o/{org_a.slug}/members/{marketer.pk}/role/", {"role": "viewer"})

    [update] = LogEntry.objects.get_for_object(marketer).filter(action=LogEntry.Action.UPDATE)
    assert update.actor == admin.user
    assert update.changes == {"role": ["marketer", "viewer"]}


def test_auditlog_never_copies_secrets(marketer):
    user = marketer.user
    user.full_name = "Mari Keta"
    user.set_password("another long passphrase")
    user.save()

    [update] = LogEntry.objects.get_for_object(user).filter(action=LogEntry.Action.UPDATE)
    assert update.changes == {"full_name": ["", "Mari Keta"]}
