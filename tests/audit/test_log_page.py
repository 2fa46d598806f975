"""The audit log page: the organisation's own entries, filtered, paginated, newest first."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from audit import record
from audit.enums import Action
from audit.models import AuditEntry

UTC = datetime.UTC


def _url(org, query: str = "") -> str:
    return f"/o/{org.slug}/audit/{query}"


def _record_at(monkeypatch, when: datetime.datetime, action, **kwargs) -> AuditEntry:
    # record() stamps entries with timezone.now(); pin the clock to place one in time.
    with monkeypatch.context() as patch:
        patch.setattr(timezone, "now", lambda: when)
        return record(action, **kwargs)


def _shown(response) -> list[int]:
    return [entry.pk for entry in response.context["page_obj"]]


def test_audit_log_shows_only_own_entries_newest_first(admin_client, admin, org_a, outsider, org_b):
    own = [record(Action.ROLE_CHANGED, actor=admin.user, organization=org_a, n=n) for n in range(3)]
    record(Action.POLICY_CHANGED, actor=outsider.user, organization=org_b, secret="b-only")

    response = admin_client.get(_url(org_a))

    assert response.status_code == 200
    expected = list(
        AuditEntry.objects.filter(organization=org_a).order_by("-seq").values_list("pk", flat=True)
    )
    assert _shown(response) == expected
    assert _shown(response)[:3] == [own[2].pk, own[1].pk, own[0].pk]
    assert b"b-only" not in response.content
    assert b"outsider@b.example" not in response.content


def test_audit_log_shows_time_actor_label_target_ip_and_details(
    admin_client, admin, marketer, org_a, monkeypatch
):
    # 2024-04-01 00:30 in Tokyo, the organisation's time zone.
    when = datetime.datetime(2024, 3, 31, 15, 30, 5, tzinfo=UTC)
    _record_at(
        monkeypatch,
        when,
        Action.ROLE_CHANGED,
        actor=admin.user,
        organization=org_a,
        target=marketer,
        before="marketer",
        after="<b>viewer</b>",
    )

    response = admin_client.get(_url(org_a, "?action=role_changed"))

    content = response.content.decode()
    assert response.status_code == 200
    assert _shown(response) == [AuditEntry.objects.get(action=Action.ROLE_CHANGED).pk]
    assert '<time datetime="2024-03-31T15:30:05+00:00">2024-04-01 00:30:05</time>' in content
    assert "<td>admin@a.example</td>" in content
    assert "<td>Role changed</td>" in content
    assert '<span class="muted">accounts.membership</span> marketer@a.example @' in content
    # User-supplied text is escaped, never markup.
    assert (
        "<code>{&quot;after&quot;: &quot;&lt;b&gt;viewer&lt;/b&gt;&quot;, "
        "&quot;before&quot;: &quot;marketer&quot;}</code>"
    ) in content
    assert "<b>viewer</b>" not in content


def test_audit_log_shows_the_client_ip_of_the_request(admin_client, admin, marketer, org_a):
    admin_client.post(
        f"/o/{org_a.slug}/members/{marketer.pk}/role/",
        {"role": "viewer"},
        REMOTE_ADDR="203.0.113.7",
    )

    response = admin_client.get(_url(org_a, "?action=role_changed"))

    [entry] = response.context["page_obj"]
    assert entry.ip == "203.0.113.7"
    assert b"<td>203.0.113.7</td>" in response.content


def test_audit_log_filters_by_actor_substring(admin_client, admin, marketer, org_a):
    mine = record(Action.ROLE_CHANGED, actor=marketer.user, organization=org_a)
    record(Action.ROLE_CHANGED, actor=admin.user, organization=org_a)

    response = admin_client.get(_url(org_a, "?actor=MARKETER@"))

    assert response.status_code == 200
    assert _shown(response) == [mine.pk]


def test_audit_log_filters_by_action(admin_client, admin, org_a):
    wanted = record(Action.MEMBER_DEACTIVATED, actor=admin.user, organization=org_a)
    record(Action.ROLE_CHANGED, actor=admin.user, organization=org_a)

    response = admin_client.get(_url(org_a, "?action=member_deactivated"))

    assert _shown(response) == [wanted.pk]


def test_audit_log_offers_actions_present_but_not_in_the_enum(admin_client, admin, org_a):
    legacy = record("legacy_thing", actor=admin.user, organization=org_a)

    response = admin_client.get(_url(org_a, "?action=legacy_thing"))

    assert response.status_code == 200
    assert _shown(response) == [legacy.pk]
    assert b'<option value="legacy_thing" selected>legacy_thing</option>' in response.content


SECURITY_ACTIONS = {
    "reauth_failed": "Re-authentication failed",
    "session_signed_out": "Session signed out",
    "member_signed_out": "Member signed out everywhere",
    "alert_acknowledged": "Alert acknowledged",
    "alert_rules_changed": "Alert thresholds changed",
    "report_exported": "Campaign report exported",
}


def test_security_actions_are_in_the_enum_with_their_labels():
    assert {code: str(Action(code).label) for code in SECURITY_ACTIONS} == SECURITY_ACTIONS


def test_audit_log_shows_security_actions_by_label(admin_client, admin, org_a):
    for code in SECURITY_ACTIONS:
        record(code, actor=admin.user, organization=org_a)

    response = admin_client.get(_url(org_a))

    labels = {entry.action: str(entry.action_label) for entry in response.context["page_obj"]}
    assert {code: labels[code] for code in SECURITY_ACTIONS} == SECURITY_ACTIONS
    for code, label in SECURITY_ACTIONS.items():
        assert f'<option value="{code}">{label}</option>'.encode() in response.content


def test_audit_log_filters_by_target_type_or_label(admin_client, admin, marketer, org_a):
    on_member = record(Action.ROLE_CHANGED, actor=admin.user, organization=org_a, target=marketer)
    on_org = record(Action.POLICY_CHANGED, actor=admin.user, organization=org_a, target=org_a)

    by_type = admin_client.get(_url(org_a, "?target=accounts.MEMBERSHIP"))
    by_label = admin_client.get(_url(org_a, "?target=Organisation+A"))

    assert _shown(by_type) == [on_member.pk]
    # The membership's label names the organisation too ("... @ Organisation A (...)").
    assert _shown(by_label) == [on_org.pk, on_member.pk]


def test_audit_log_dates_are_days_in_the_organization_time_zone(
    admin_client, admin, org_a, monkeypatch
):
    assert org_a.time_zone == "Asia/Tokyo"
    # 23:59:59 on 31 March and 00:00:00 on 1 April, Tokyo time.
    march = _record_at(
        monkeypatch,
        datetime.datetime(2024, 3, 31, 14, 59, 59, tzinfo=UTC),
        Action.ROLE_CHANGED,
        actor=admin.user,
        organization=org_a,
    )
    april = _record_at(
        monkeypatch,
        datetime.datetime(2024, 3, 31, 15, 0, 0, tzinfo=UTC),
        Action.ROLE_CHANGED,
        actor=admin.user,
        organization=org_a,
    )
    query = "?action=role_changed&"

    from_april = admin_client.get(_url(org_a, query + "date_from=2024-04-01"))
    to_march = admin_client.get(_url(org_a, query + "date_to=2024-03-31"))
    one_day = admin_client.get(_url(org_a, query + "date_from=2024-04-01&date_to=2024-04-01"))

    assert _shown(from_april) == [april.pk]
    assert _shown(to_march) == [march.pk]
    assert _shown(one_day) == [april.pk]


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("?date_from=2024-02-31", "date_from", "Enter a valid date."),
        ("?date_to=yesterday", "date_to", "Enter a valid date."),
        ("?date_from=0001-01-01", "date_from", "Enter a date between 1900-01-01 and 9999-12-30."),
        ("?date_to=9999-12-31", "date_to", "Enter a date between 1900-01-01 and 9999-12-30."),
        (
            "?date_from=2024-05-02&date_to=2024-05-01",
            "date_to",
            "The end date is before the start date.",
        ),
        (
            "?action=no_such_action",
            "action",
            "Select a valid choice. no_such_action is not one of the available choices.",
        ),
    ],
)
def test_audit_log_with_invalid_filter_shows_the_error(admin_client, org_a, query, field, message):
    response = admin_client.get(_url(org_a, query))

    assert response.status_code == 400
    assert response.context["form"].errors == {field: [message]}
    assert response.context["page_obj"] is None
    assert message.encode() in response.content.replace(b"&#x27;", b"'")


def test_audit_log_paginates_by_fifty_and_keeps_filters_in_links(admin_client, admin, org_a):
    for n in range(120):
        record(Action.ROLE_CHANGED, actor=admin.user, organization=org_a, n=n)
    newest_first = list(
        AuditEntry.objects.filter(organization=org_a, action=Action.ROLE_CHANGED)
        .order_by("-seq")
        .values_list("pk", flat=True)
    )

    first = admin_client.get(_url(org_a, "?action=role_changed"))
    second = admin_client.get(_url(org_a, "?action=role_changed&page=2"))
    last = admin_client.get(_url(org_a, "?action=role_changed&page=3"))

    assert _shown(first) == newest_first[:50]
    assert _shown(second) == newest_first[50:100]
    assert _shown(last) == newest_first[100:]
    assert b'href="?action=role_changed&amp;page=2" rel="next"' in first.content
    assert b'href="?action=role_changed&amp;page=1" rel="prev"' in second.content
    assert b'href="?action=role_changed&amp;page=3" rel="next"' in second.content
    assert b"Page 2 of 3" in second.content


@pytest.mark.parametrize(("page", "shown_page"), [("abc", 1), ("0", 3), ("999", 3), ("", 1)])
def test_audit_log_with_bad_page_number_shows_a_valid_page(
    admin_client, admin, org_a, page, shown_page
):
    for n in range(110):
        record(Action.ROLE_CHANGED, actor=admin.user, organization=org_a, n=n)

    response = admin_client.get(_url(org_a, f"?action=role_changed&page={page}"))

    assert response.status_code == 200
    assert response.context["page_obj"].number == shown_page


@pytest.mark.parametrize("entries", [3, 60])
def test_audit_log_query_count_does_not_grow_with_entries(
    admin_client, admin, marketer, org_a, django_assert_num_queries, entries
):
    for n in range(entries):
        record(Action.ROLE_CHANGED, actor=admin.user, organization=org_a, target=marketer, n=n)
    admin_client.get(_url(org_a))  # the first request also writes the session's activity time

    # session, user, OTP device, membership, actions present, count, page, navigation.
    with django_assert_num_queries(8):
        response = admin_client.get(_url(org_a, "?actor=admin&page=2"))

    assert response.status_code == 200


def test_audit_log_export_link_carries_the_filters(admin_client, org_a):
    response = admin_client.get(_url(org_a, "?actor=x%26y&action=login&page=2"))

    assert (
        b'href="/o/org-a/audit/export.csv?actor=x%26y&amp;action=login" data-testid="audit-export"'
        in response.content
    )
