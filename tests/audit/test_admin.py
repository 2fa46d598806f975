"""Platform operators can read the audit log in the Django admin, never change it."""

from __future__ import annotations

import pytest
from django.test import Client

from audit import record
from audit.enums import Action
from tests.factories import login_verified, make_user


@pytest.fixture
def operator_client(db):
    operator = make_user("operator@tayori.example", is_staff=True, is_superuser=True)
    client = Client()
    login_verified(client, operator)
    return client


@pytest.fixture
def entry(admin, org_a):
    return record(Action.ROLE_CHANGED, actor=admin.user, organization=org_a, target=admin)


def test_admin_lists_audit_entries(operator_client, entry):
    response = operator_client.get("/admin/audit/auditentry/")

    assert response.status_code == 200
    # The operator's own login (platform chain) is listed too, newest first.
    assert [(e.chain, e.action) for e in response.context["cl"].result_list] == [
        (entry.chain, Action.ROLE_CHANGED),
        ("platform", Action.LOGIN),
    ]


def test_admin_shows_an_entry_read_only(operator_client, entry):
    response = operator_client.get(f"/admin/audit/auditentry/{entry.pk}/change/")

    assert response.status_code == 200
    assert response.context["has_change_permission"] is False
    assert response.context["has_delete_permission"] is False
    assert b'type="submit"' not in response.content.split(b'id="content-main"')[1]


def test_admin_refuses_to_add_change_or_delete(operator_client, entry):
    add = operator_client.get("/admin/audit/auditentry/add/")
    change = operator_client.post(
        f"/admin/audit/auditentry/{entry.pk}/change/", {"action": "forged"}
    )
    delete = operator_client.post(f"/admin/audit/auditentry/{entry.pk}/delete/", {"post": "yes"})
    bulk_delete = operator_client.post(
        "/admin/audit/auditentry/",
        {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"},
    )

    assert (add.status_code, change.status_code, delete.status_code) == (403, 403, 403)
    # No delete permission: the bulk "delete selected" action does not exist.
    assert bulk_delete.status_code == 200
    assert b"delete_selected" not in bulk_delete.content
    entry.refresh_from_db()
    assert entry.action == Action.ROLE_CHANGED
