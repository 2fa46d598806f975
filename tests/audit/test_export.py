"""The CSV export: same filters as the page, streamed, Excel-safe, and itself audited."""

from __future__ import annotations

import csv
import io

import pytest
from django.http import StreamingHttpResponse

from accounts.reauth import CREDENTIAL_FIELD
from audit import record
from audit.enums import Action
from audit.models import AuditEntry
from audit.services import EXPORT_COLUMNS
from tests.audit.utils import audit_mark, entries_since
from tests.factories import PASSWORD

BOM = b"\xef\xbb\xbf"


def _url(org, query: str = "") -> str:
    return f"/o/{org.slug}/audit/export.csv{query}"


@pytest.fixture
def admin_client(admin_client):
    """The admin, having entered the password again: the audit log is personal data, and
    its export wants a credential entered after signing in (tests/security/test_reauth.py
    shows the prompt)."""
    assert admin_client.post("/account/reauth/", {CREDENTIAL_FIELD: PASSWORD}).status_code == 302
    return admin_client


def _rows(response) -> list[list[str]]:
    body = b"".join(response.streaming_content)
    assert body.startswith(BOM)
    return list(csv.reader(io.StringIO(body[len(BOM) :].decode("utf-8"), newline="")))


def test_export_streams_utf8_csv_with_bom(admin_client, admin, org_a):
    record(Action.ROLE_CHANGED, actor="山田 <yamada@a.example>", organization=org_a)

    response = admin_client.get(_url(org_a, "?action=role_changed"))

    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="audit-org-a-')
    body = b"".join(response.streaming_content)
    assert body.startswith(
        BOM + b"time,actor,action,target_type,target_id,target,ip,details,seq,hash\r\n"
    )
    assert "山田 <yamada@a.example>".encode() in body


def test_export_neutralises_formula_cells(admin_client, org_a):
    labels = ["=1+2", "+SUM(A1)", "-3", "@cmd", "\tTAB", "\rCR", "plain", "a=b"]
    for label in labels:
        record(Action.LOGIN_FAILED, actor=label, organization=org_a)

    rows = _rows(admin_client.get(_url(org_a, "?action=login_failed")))

    assert rows[0] == EXPORT_COLUMNS
    assert [row[1] for row in rows[1:]] == [
        "'=1+2",
        "'+SUM(A1)",
        "'-3",
        "'@cmd",
        "'\tTAB",
        "'\rCR",
        "plain",
        "a=b",
    ]


def test_export_applies_the_page_filters_and_records_them(admin_client, admin, marketer, org_a):
    wanted = [
        record(Action.ROLE_CHANGED, actor=admin.user, organization=org_a, target=marketer, n=n)
        for n in range(3)
    ]
    record(Action.MEMBER_DEACTIVATED, actor=admin.user, organization=org_a, target=marketer)
    mark = audit_mark()

    response = admin_client.get(_url(org_a, "?action=role_changed&target=membership&page=4"))

    # Recorded before a single row has been streamed.
    [exported] = entries_since(mark)
    assert (exported.action, exported.actor, exported.organization) == (
        Action.AUDIT_EXPORTED,
        admin.user,
        org_a,
    )
    assert exported.details == {
        "filters": {"action": "role_changed", "target": "membership"},
        "rows": 3,
    }
    rows = _rows(response)
    assert [row[8] for row in rows[1:]] == [str(e.seq) for e in wanted]
    assert [row[9] for row in rows[1:]] == [e.hash for e in wanted]


def test_export_row_count_matches_the_recorded_count_and_excludes_itself(
    admin_client, admin, org_a
):
    for n in range(5):
        record(Action.ROLE_CHANGED, actor=admin.user, organization=org_a, n=n)
    existing = AuditEntry.objects.filter(organization=org_a).count()

    response = admin_client.get(_url(org_a))
    rows = _rows(response)

    exported = AuditEntry.objects.get(organization=org_a, action=Action.AUDIT_EXPORTED)
    assert exported.details == {"filters": {}, "rows": existing}
    assert len(rows) - 1 == existing
    assert Action.AUDIT_EXPORTED not in [row[2] for row in rows[1:]]


def test_export_with_invalid_filter_is_refused_and_not_recorded(admin_client, org_a):
    mark = audit_mark()

    response = admin_client.get(_url(org_a, "?date_to=2024-13-01"))

    assert response.status_code == 400
    assert response.context["form"].errors == {"date_to": ["Enter a valid date."]}
    assert entries_since(mark) == []


def test_export_contains_only_own_organization(admin_client, admin, org_a, outsider, org_b):
    record(Action.ROLE_CHANGED, actor=outsider.user, organization=org_b, secret="b-only")

    body = b"".join(admin_client.get(_url(org_a)).streaming_content)

    assert b"b-only" not in body
    assert b"outsider@b.example" not in body
