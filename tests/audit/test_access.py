"""Who may read and export the audit log: admins of the organisation, nobody else."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.reauth import CREDENTIAL_FIELD
from audit.enums import Action
from audit.models import AuditEntry
from tests.factories import PASSWORD

PAGES = ["/o/org-a/audit/", "/o/org-a/audit/export.csv"]


@pytest.mark.parametrize("url", PAGES)
def test_audit_pages_send_anonymous_visitors_to_login(org_a, url):
    response = Client().get(url)

    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={url}"


@pytest.mark.parametrize("url", PAGES)
def test_audit_pages_are_404_for_another_organizations_admin(outsider_client, org_a, url):
    response = outsider_client.get(url)

    assert response.status_code == 404
    assert AuditEntry.objects.filter(action=Action.AUDIT_EXPORTED).count() == 0


@pytest.mark.parametrize("persona", ["marketer_client", "approver_client", "viewer_client"])
@pytest.mark.parametrize("url", PAGES)
def test_audit_pages_are_403_for_members_who_are_not_admins(request, persona, url):
    client = request.getfixturevalue(persona)

    response = client.get(url)

    assert response.status_code == 403
    assert AuditEntry.objects.filter(action=Action.AUDIT_EXPORTED).count() == 0


def test_the_audit_log_opens_for_the_admin(admin_client):
    assert admin_client.get("/o/org-a/audit/").status_code == 200


def test_the_admin_exports_after_entering_the_password_again(admin_client):
    # Signing in is not enough for an export of personal data: the prompt first.
    prompt = admin_client.get("/o/org-a/audit/export.csv")
    admin_client.post("/account/reauth/", {CREDENTIAL_FIELD: PASSWORD})
    export = admin_client.get("/o/org-a/audit/export.csv")

    assert (prompt.status_code, prompt.templates[0].name) == (200, "accounts/reauth.html")
    assert AuditEntry.objects.filter(action=Action.AUDIT_EXPORTED).count() == 1
    assert (export.status_code, export["Content-Type"]) == (200, "text/csv; charset=utf-8")


def test_audit_log_shows_the_export_link_to_the_admin(admin_client, org_a):
    # The link is shown only with "audit.export"; today every role that may read the log
    # (admin) may also export it, so there is no persona to see it hidden.
    response = admin_client.get("/o/org-a/audit/")

    assert b'data-testid="audit-export"' in response.content
