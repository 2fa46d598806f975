"""Row-level security on django-guardian's grant tables (docs/security.md).

A grant row carries no organisation: it names its object by content type and key. The
policy (``accounts.tenancy._object_grants``) follows the object into its own table, one
branch per model that receives grants (``tenancy.grant_models()``). These tests seed grants
in two organisations and check, with the first wall switched off (raw SQL, unfiltered
queries), that organisation A's scope sees and writes only grants on A's objects, and that
every grant flow of the product still works inside the scope.
"""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connection, transaction
from django.urls import reverse
from guardian.models import GroupObjectPermission, UserObjectPermission
from guardian.shortcuts import assign_perm, get_objects_for_user, remove_perm

from accounts import tenancy
from accounts.access import has_perm
from accounts.enums import Role
from accounts.models import Membership
from contacts import services
from contacts.models import Contact, ContactList
from tests.factories import make_member

VIEW = "contacts.view_contactlist"
EDIT = "contacts.change_contactlist"
GRANT_TABLES = ["guardian_groupobjectpermission", "guardian_userobjectpermission"]


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.fail("the row-level security tests need PostgreSQL (DATABASE_URL)")


@pytest.fixture
def lists(admin, outsider):
    """A restricted list in each organisation, each with one contact."""
    a_list = services.create_list(admin, "Board A", is_restricted=True)
    b_list = services.create_list(outsider, "Board B", is_restricted=True)
    services.create_contact(admin, services.ContactInput(email="ceo@a.example", lists=[a_list]))
    services.create_contact(outsider, services.ContactInput(email="ceo@b.example", lists=[b_list]))
    return a_list, b_list


@pytest.fixture
def both(org_a, org_b):
    """A person who is a marketer in both organisations."""
    member = make_member(org_a, Role.MARKETER, "both@example.com")
    Membership.objects.create(user=member.user, organization=org_b, role=Role.MARKETER)
    return member


@pytest.fixture
def grants(lists, both, marketer, outsider):
    """Grants on both organisations' lists, per person and per group (written unconfined,
    as the platform would)."""
    a_list, b_list = lists
    group = Group.objects.create(name="board readers")
    assign_perm(VIEW, both.user, a_list)
    assign_perm(VIEW, both.user, b_list)
    assign_perm(EDIT, marketer.user, a_list)
    assign_perm(VIEW, outsider.user, b_list)
    assign_perm(VIEW, group, a_list)
    assign_perm(VIEW, group, b_list)
    return a_list, b_list, group


def _raw(sql: str, params=()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def _user_grants() -> list[tuple[str, str]]:
    return _raw(
        "SELECT u.email, g.object_pk FROM guardian_userobjectpermission g "
        "JOIN accounts_user u ON u.id = g.user_id ORDER BY u.email, g.object_pk"
    )


# --- The policy -------------------------------------------------------------------------


def _policies() -> dict[str, tuple[bool, bool, str | None]]:
    return {
        name: (rls, forced, comment)
        for name, rls, forced, comment in _raw(
            "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, "
            "obj_description(p.oid, 'pg_policy') FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema() "
            "LEFT JOIN pg_policy p ON p.polrelid = c.oid AND p.polname = %s "
            "WHERE c.relname = ANY(%s)",
            [tenancy.POLICY, GRANT_TABLES],
        )
    }


def test_both_grant_tables_have_the_forced_policy_generated_from_the_models(db):
    wanted = {p.table: p.fingerprint for p in tenancy.protected_tables()}

    assert _policies() == {table: (True, True, wanted[table]) for table in GRANT_TABLES}


def test_every_model_that_receives_grants_has_a_branch(db):
    # has_perm consults a grant only through restricts_access()/grant_codename(): every
    # model with either is a model that receives grants, and has a branch.
    consulted = {
        model
        for model in apps.get_models()
        if hasattr(model, "restricts_access") or hasattr(model, "grant_codename")
    }
    policies = {p.table: p.using for p in tenancy.protected_tables()}

    assert set(tenancy.grant_models()) == consulted
    assert [m._meta.label for m in tenancy.grant_models()] == ["contacts.ContactList"]
    for table in GRANT_TABLES:
        for model in consulted:
            assert f'FROM "{model._meta.db_table}" o WHERE' in policies[table]
            assert f"ct.model = '{model._meta.model_name}'" in policies[table]


def test_a_grant_on_a_model_without_a_branch_is_refused_everywhere(org_a, admin, marketer):
    contact = Contact.objects.create(organization=org_a, email="one@a.example")

    # Unconfined (the platform, a management command): the save is refused.
    with pytest.raises(ImproperlyConfigured, match=r"contacts\.Contact"), transaction.atomic():
        assign_perm("contacts.view_contact", marketer.user, contact)
    # Inside the scope, a bulk write (no save signal) is refused by the policy itself.
    row = UserObjectPermission(
        user=marketer.user,
        permission=Permission.objects.get(codename="view_contact"),
        content_type=ContentType.objects.get_for_model(Contact),
        object_pk=str(contact.pk),
    )
    with (
        tenancy.tenant_scope(org_a.pk, admin.user.pk),
        pytest.raises(DatabaseError, match="row-level security"),
        transaction.atomic(),
    ):
        UserObjectPermission.objects.bulk_create([row])

    assert UserObjectPermission.objects.count() == 0


def test_a_grant_policy_from_an_earlier_release_is_replaced_by_the_next_migrate(
    lists, admin, marketer, outsider
):
    # A model that starts receiving grants changes the policy's text (the test above:
    # one branch per model with the protocol); what reaches the database is a policy
    # whose stored text no longer matches. Here, the real state of a database migrated
    # by a release with no grant models yet: the table's policy has no branch at all.
    a_list, b_list = lists
    table = "guardian_userobjectpermission"
    _raw(f"DROP POLICY {tenancy.POLICY} ON {table}")
    _raw(f"CREATE POLICY {tenancy.POLICY} ON {table} USING (false) WITH CHECK (false)")
    _raw(f"COMMENT ON POLICY {tenancy.POLICY} ON {table} IS 'an earlier release'")

    # What post_migrate runs: only the stale policy is recreated.
    assert tenancy.install() == [table]
    assert _policies()[table] == (
        True,
        True,
        {p.table: p for p in tenancy.protected_tables()}[table].fingerprint,
    )
    assign_perm(VIEW, outsider.user, b_list)
    with tenancy.tenant_scope(a_list.organization_id, admin.user.pk):
        assign_perm(VIEW, marketer.user, a_list)
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
            assign_perm(VIEW, marketer.user, b_list)
        seen = _user_grants()

    assert seen == [("marketer@a.example", str(a_list.pk))]


def test_install_is_a_no_op_once_the_policies_match(db):
    assert tenancy.install() == []


# --- Organisation A's scope sees and writes only A's grants -------------------------------


def test_b_grants_are_invisible_to_a_raw_query_in_a_scope(grants, admin, outsider):
    a_list, b_list, _group = grants
    a_pk, b_pk = str(a_list.pk), str(b_list.pk)

    with tenancy.tenant_scope(a_list.organization_id, admin.user.pk):
        user_rows = _user_grants()
        group_rows = _raw("SELECT object_pk FROM guardian_groupobjectpermission")
        b_by_key = _raw(
            "SELECT count(*) FROM guardian_userobjectpermission WHERE object_pk = %s", [b_pk]
        )
        orm_count = UserObjectPermission.objects.count()
    with tenancy.tenant_scope(b_list.organization_id, outsider.user.pk):
        in_b = _user_grants()

    assert user_rows == [("both@example.com", a_pk), ("marketer@a.example", a_pk)]
    assert group_rows == [(a_pk,)]
    assert b_by_key == [(0,)]
    assert orm_count == 2
    assert in_b == [("both@example.com", b_pk), ("outsider@b.example", b_pk)]
    assert UserObjectPermission.objects.count() == 4  # all there, unconfined


def test_a_grant_on_b_object_cannot_be_written_in_a_scope(grants, admin, marketer, both):
    a_list, b_list, group = grants
    view = Permission.objects.get(codename="view_contactlist")
    list_type = ContentType.objects.get_for_model(ContactList)

    with tenancy.tenant_scope(a_list.organization_id, admin.user.pk):
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
            assign_perm(VIEW, marketer.user, b_list)
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
            assign_perm(VIEW, group, b_list)
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
            _raw(
                "INSERT INTO guardian_userobjectpermission "
                "(user_id, permission_id, content_type_id, object_pk) VALUES (%s, %s, %s, %s)",
                [marketer.user.pk, view.pk, list_type.pk, str(b_list.pk)],
            )
        # Moving one of A's grants onto B's list.
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
            UserObjectPermission.objects.filter(user=marketer.user).update(object_pk=b_list.pk)
        # B's grants cannot be changed or removed either: they are not there.
        moved = UserObjectPermission.objects.filter(object_pk=str(b_list.pk)).update(
            object_pk=str(a_list.pk)
        )
        deleted = _raw(
            "DELETE FROM guardian_userobjectpermission WHERE object_pk = %s RETURNING id",
            [str(b_list.pk)],
        )
        remove_perm(VIEW, both.user, b_list)

    assert (moved, deleted) == (0, [])
    assert sorted(
        UserObjectPermission.objects.filter(object_pk=str(b_list.pk)).values_list(
            "user__email", flat=True
        )
    ) == ["both@example.com", "outsider@b.example"]
    assert both.user.has_perm(VIEW, b_list)
    assert GroupObjectPermission.objects.filter(object_pk=str(b_list.pk)).count() == 1


def test_a_grant_with_a_malformed_key_is_refused_not_an_error(grants, admin, marketer):
    # Written past the ORM (guardian's save would look the object up first): the branch
    # checks the key is digits before casting it, so the table stays readable.
    a_list, _b_list, _group = grants
    _raw(
        "INSERT INTO guardian_userobjectpermission "
        "(user_id, permission_id, content_type_id, object_pk) VALUES (%s, %s, %s, %s)",
        [
            marketer.user.pk,
            Permission.objects.get(codename="view_contactlist").pk,
            ContentType.objects.get_for_model(ContactList).pk,
            f"{a_list.pk} OR true",
        ],
    )

    with tenancy.tenant_scope(a_list.organization_id, admin.user.pk):
        rows = _user_grants()

    assert rows == [("both@example.com", str(a_list.pk)), ("marketer@a.example", str(a_list.pk))]


def test_grants_on_a_deleted_object_disappear_from_the_scope(grants, admin):
    a_list, _b_list, _group = grants

    with tenancy.tenant_scope(a_list.organization_id, admin.user.pk):
        ContactList.objects.filter(pk=a_list.pk).delete()
        rows = _user_grants()

    assert rows == []


# --- Every grant flow of the product, inside the scope ------------------------------------


def test_list_grants_are_given_changed_and_taken_back_inside_the_scope(
    grants, org_a, admin, marketer, viewer
):
    a_list, _b_list, _group = grants

    with tenancy.tenant_scope(org_a.pk, admin.user.pk):
        levels = [
            services.set_list_grant(admin, a_list, viewer, "view"),
            services.set_list_grant(admin, a_list, viewer, "edit"),
            services.set_list_grant(admin, a_list, marketer, "none"),
        ]
        listed = [(m.user.email, level) for m, level in services.list_grants(a_list)]
        changed = services.grant_to_role(admin, a_list, Role.MARKETER, "view")
        after_role = services.grant_level(marketer.user, a_list)

    assert levels == ["none", "view", "edit"]
    assert listed == [
        ("admin@a.example", "none"),
        ("both@example.com", "view"),
        ("marketer@a.example", "none"),
        ("viewer@a.example", "edit"),
    ]
    assert (changed, after_role) == (1, "view")  # both@ already had view


def test_granted_lists_and_permissions_are_read_inside_the_scope(grants, org_a, marketer, both):
    a_list, _b_list, _group = grants
    both_in_a = Membership.objects.get(user=both.user, organization=org_a)

    with tenancy.tenant_scope(org_a.pk, both.user.pk):
        ids = services.granted_list_ids(both_in_a)
        every_list = sorted(
            get_objects_for_user(
                both.user, VIEW, klass=ContactList, accept_global_perms=False
            ).values_list("name", flat=True)
        )
        may_view = has_perm(both_in_a, "contacts.view", a_list)
        backend = (both.user.has_perm(VIEW, a_list), marketer.user.has_perm(EDIT, a_list))
        emails = sorted(services.visible_contacts(both_in_a).values_list("email", flat=True))

    assert ids == frozenset({a_list.pk})
    assert every_list == ["Board A"]
    assert may_view is True
    assert backend == (True, True)
    assert emails == ["ceo@a.example"]


def test_the_grants_page_and_a_granted_member_work_through_requests(
    grants, org_a, admin_client, viewer, viewer_client
):
    a_list, _b_list, _group = grants
    page = reverse("contacts:list_grants", args=[org_a.slug, a_list.pk])
    detail = reverse("contacts:list_detail", args=[org_a.slug, a_list.pk])

    before = viewer_client.get(detail).status_code
    granted = admin_client.post(page, {"member": viewer.pk, "level": "view"})
    listing = admin_client.get(page)
    after = viewer_client.get(detail).status_code
    role = admin_client.post(page, {"role": "viewer", "level": "none"})

    assert (before, granted.status_code, after, role.status_code) == (403, 302, 200, 302)
    assert [(m.user.email, level) for m, level in listing.context["grants"]] == [
        ("admin@a.example", "none"),
        ("both@example.com", "view"),
        ("marketer@a.example", "edit"),
        ("viewer@a.example", "view"),
    ]
    assert viewer_client.get(detail).status_code == 403
    assert services.grant_level(viewer.user, a_list) == "none"
