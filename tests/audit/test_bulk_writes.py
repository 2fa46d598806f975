"""update() and bulk_create() on audited models record one entry per organisation."""

from __future__ import annotations

from accounts.enums import Role
from accounts.models import Membership
from audit.context import acting_as
from audit.enums import Action
from tests.audit.utils import audit_mark, entries_since
from tests.factories import make_member, make_user

MEMBERSHIP = "accounts.membership"


def test_queryset_update_records_one_bulk_entry_per_organization(
    org_a, org_b, admin, viewer, outsider
):
    make_member(org_a, Role.VIEWER, "viewer2@a.example")
    make_member(org_b, Role.VIEWER, "viewer@b.example")
    mark = audit_mark()

    updated = Membership.objects.filter(role=Role.VIEWER).update(role=Role.MARKETER)

    assert updated == 3
    entries = entries_since(mark)  # written in organisation order
    assert [(e.action, e.organization_id, e.details) for e in entries] == [
        (Action.BULK_UPDATE, org_a.pk, {"model": MEMBERSHIP, "count": 2, "fields": ["role"]}),
        (Action.BULK_UPDATE, org_b.pk, {"model": MEMBERSHIP, "count": 1, "fields": ["role"]}),
    ]
    # Outside a request or task, the system did it.
    assert [(e.actor, e.actor_label) for e in entries] == [(None, ""), (None, "")]


def test_queryset_update_names_the_acting_user(org_a, admin, viewer):
    mark = audit_mark()

    with acting_as(admin.user):
        Membership.objects.for_organization(org_a).filter(pk=viewer.pk).update(
            role=Role.APPROVER, is_active=False
        )

    [entry] = entries_since(mark)
    assert (entry.action, entry.actor, entry.organization) == (
        Action.BULK_UPDATE,
        admin.user,
        org_a,
    )
    assert entry.details == {
        "model": "accounts.membership",
        "count": 1,
        "fields": ["is_active", "role"],
    }


def test_queryset_update_of_no_rows_records_nothing(org_a, admin):
    mark = audit_mark()

    updated = Membership.objects.filter(role=Role.VIEWER).update(role=Role.MARKETER)

    assert updated == 0
    assert entries_since(mark) == []


def test_bulk_create_records_one_bulk_entry_per_organization(org_a, org_b, admin):
    users = [make_user(f"bulk{n}@example.com") for n in range(3)]
    mark = audit_mark()

    with acting_as(admin.user):
        created = Membership.objects.bulk_create(
            [
                Membership(user=users[0], organization=org_a, role=Role.VIEWER),
                Membership(user=users[1], organization=org_a, role=Role.VIEWER),
                Membership(user=users[2], organization=org_b, role=Role.VIEWER),
            ]
        )

    assert len(created) == 3
    entries = entries_since(mark)  # written in organisation order
    assert [(e.action, e.organization_id, e.actor, e.details) for e in entries] == [
        (Action.BULK_CREATE, org_a.pk, admin.user, {"model": "accounts.membership", "count": 2}),
        (Action.BULK_CREATE, org_b.pk, admin.user, {"model": "accounts.membership", "count": 1}),
    ]
