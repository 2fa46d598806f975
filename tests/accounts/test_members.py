"""Members: roles, deactivation and the rule that an organisation keeps an admin."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages

from accounts.enums import Role
from accounts.models import Membership
from tests.factories import make_member


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _state(membership) -> tuple[str, bool]:
    membership.refresh_from_db()
    return membership.role, membership.is_active


def test_demoting_the_only_admin_is_refused(admin_client, admin, org_a, audit_actions):
    before = audit_actions(org_a)

    response = admin_client.post(f"/o/org-a/members/{admin.pk}/role/", {"role": "marketer"})

    assert response.status_code == 302
    assert response["Location"] == "/o/org-a/members/"
    assert _messages(response) == [
        "admin@a.example is the last active admin; make someone else admin first."
    ]
    assert _state(admin) == ("admin", True)
    assert audit_actions(org_a) == before


def test_deactivating_the_only_admin_is_refused(admin_client, admin, org_a, audit_actions):
    before = audit_actions(org_a)

    response = admin_client.post(f"/o/org-a/members/{admin.pk}/deactivate/")

    assert _messages(response) == [
        "admin@a.example is the last active admin; make someone else admin first."
    ]
    assert _state(admin) == ("admin", True)
    assert audit_actions(org_a) == before


def test_deactivated_second_admin_does_not_count(admin_client, admin, org_a):
    other = make_member(org_a, Role.ADMIN, "other-admin@a.example")
    other.is_active = False
    other.save()

    response = admin_client.post(f"/o/org-a/members/{admin.pk}/role/", {"role": "viewer"})

    assert _messages(response) == [
        "admin@a.example is the last active admin; make someone else admin first."
    ]
    assert _state(admin) == ("admin", True)


def test_demoting_an_admin_works_when_another_admin_remains(
    admin_client, admin, org_a, audit_actions
):
    other = make_member(org_a, Role.ADMIN, "other-admin@a.example")

    response = admin_client.post(f"/o/org-a/members/{other.pk}/role/", {"role": "approver"})

    assert _messages(response) == ["Role of other-admin@a.example changed."]
    assert _state(other) == ("approver", True)
    assert audit_actions(org_a)[-1] == "role_changed"


def test_deactivating_an_admin_works_when_another_admin_remains(
    admin_client, admin, org_a, audit_actions
):
    other = make_member(org_a, Role.ADMIN, "other-admin@a.example")

    response = admin_client.post(f"/o/org-a/members/{other.pk}/deactivate/")

    assert _messages(response) == ["other-admin@a.example can no longer access this organisation."]
    assert _state(other) == ("admin", False)
    assert audit_actions(org_a)[-1] == "member_deactivated"


def test_change_role_refuses_an_unknown_role(admin_client, marketer):
    response = admin_client.post(f"/o/org-a/members/{marketer.pk}/role/", {"role": "owner"})

    assert _messages(response) == ["Choose a valid role."]
    assert _state(marketer) == ("marketer", True)


def test_change_role_of_another_organisations_member_is_not_found(admin_client, outsider):
    response = admin_client.post(f"/o/org-a/members/{outsider.pk}/role/", {"role": "viewer"})

    assert response.status_code == 404
    assert _state(outsider) == ("admin", True)


def test_change_role_needs_post(admin_client, marketer):
    response = admin_client.get(f"/o/org-a/members/{marketer.pk}/role/")

    assert response.status_code == 405


@pytest.mark.parametrize("page", ["", "members/", "settings/", "audit/"])
def test_deactivated_member_gets_not_found(admin_client, admin, org_a, page):
    other = make_member(org_a, Role.ADMIN, "other-admin@a.example")
    admin_client.post(f"/o/org-a/members/{other.pk}/role/", {"role": "admin"})
    Membership.objects.filter(pk=admin.pk).update(is_active=False)

    response = admin_client.get(f"/o/org-a/{page}")

    assert response.status_code == 404


def test_deactivated_member_no_longer_sees_the_organisation_at_home(viewer_client, viewer):
    Membership.objects.filter(pk=viewer.pk).update(is_active=False)

    response = viewer_client.get("/")

    assert response.status_code == 200
    assert response.context["memberships"] == []


def test_members_page_lists_members_with_their_roles(admin_client, admin, marketer, viewer):
    response = admin_client.get("/o/org-a/members/")

    assert [(m.user.email, m.role) for m in response.context["members"]] == [
        ("admin@a.example", "admin"),
        ("marketer@a.example", "marketer"),
        ("viewer@a.example", "viewer"),
    ]


def test_members_page_query_count_does_not_grow_with_members(
    admin_client, org_a, django_assert_num_queries
):
    for n in range(30):
        make_member(org_a, Role.VIEWER, f"member{n}@a.example")

    with django_assert_num_queries(10):
        response = admin_client.get("/o/org-a/members/")

    assert len(response.context["members"]) == 31


def test_members_page_is_forbidden_to_marketer(marketer_client):
    response = marketer_client.get("/o/org-a/members/")

    assert response.status_code == 403
