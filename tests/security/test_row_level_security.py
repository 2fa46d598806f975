"""PostgreSQL row-level security: the second wall between organisations.

The first wall is the code (organisation-scoped querysets, ``accounts.access``); these
tests switch the first wall off on purpose (queries with no organisation filter, raw SQL)
and check that the database alone still keeps organisation B's rows away from a request
or task of organisation A.
"""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import DatabaseError, connection, transaction
from django.http import JsonResponse
from django.test import Client
from django.urls import include, path
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import tenancy, tokens
from accounts.access import org_view
from accounts.api.authentication import TokenAuthentication
from accounts.enums import Role
from accounts.models import Invitation, Membership, Organization
from audit import record
from audit.enums import Action
from audit.models import Alert, AuditEntry
from contacts.models import Contact
from tests.factories import login_verified, make_member


@pytest.fixture(autouse=True)
def _postgresql_only():
    """Row-level security is PostgreSQL's, and ``make test`` always runs on PostgreSQL:
    another database is a failure here, never a silent skip."""
    if connection.vendor != "postgresql":
        pytest.fail("the row-level security tests need PostgreSQL (DATABASE_URL)")


# --- Every tenant table is protected --------------------------------------------------------


def _catalog() -> dict[str, tuple[bool, bool, int]]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
                   (SELECT count(*) FROM pg_policy p
                    WHERE p.polrelid = c.oid AND p.polname = %s)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
            """,
            [tenancy.POLICY],
        )
        return {name: (rls, forced, policies) for name, rls, forced, policies in cursor}


def test_every_tenant_table_has_a_forced_isolation_policy(db):
    catalog = _catalog()
    tables = [protected.table for protected in tenancy.protected_tables()]

    unprotected = [t for t in tables if catalog.get(t) != (True, True, 1)]

    assert len(tables) >= 30
    assert unprotected == [], "tenant tables without a forced tenant_isolation policy"


def test_every_model_of_an_organisation_is_enumerated(db):
    # Independent of tenant_models(): any model with a relation to Organization, under
    # any field name, must be protected (or the enumeration has a hole).
    organization = apps.get_model("accounts", "Organization")
    protected = set(tenancy.protected_models())
    holes = []
    for model in apps.get_models(include_auto_created=True):
        for field in model._meta.concrete_fields:
            if field.is_relation and field.related_model is organization and model not in protected:
                holes.append(f"{model._meta.label}.{field.name}")

    assert holes == []


def test_every_table_with_an_organisation_column_is_protected(db):
    # And independent of the models: what the database itself holds.
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.table_name FROM information_schema.columns c
            JOIN information_schema.tables t
              ON t.table_schema = c.table_schema AND t.table_name = c.table_name
            WHERE c.table_schema = current_schema() AND c.column_name = 'organization_id'
              AND t.table_type = 'BASE TABLE'
            """
        )
        with_column = {row[0] for row in cursor}
    catalog = _catalog()

    assert with_column
    assert sorted(t for t in with_column if catalog[t] != (True, True, 1)) == []


def test_the_app_role_is_not_above_the_policies(db):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rolsuper, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname = %s",
            [tenancy.app_role()],
        )
        assert cursor.fetchone() == (False, False, False)


def test_install_is_idempotent(db):
    assert tenancy.install() == []


def test_the_app_role_may_not_change_the_audit_log(db):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT has_table_privilege(%s, 'audit_auditentry', 'INSERT'), "
            "has_table_privilege(%s, 'audit_auditentry', 'UPDATE'), "
            "has_table_privilege(%s, 'audit_auditentry', 'DELETE')",
            [tenancy.app_role()] * 3,
        )
        assert cursor.fetchone() == (True, False, False)


# --- Queries that forget their organisation -------------------------------------------------


@pytest.fixture
def two_organisations(org_a, org_b, admin, outsider):
    for org, member in ((org_a, admin), (org_b, outsider)):
        for n in range(2 if org == org_a else 3):
            Contact.objects.create(organization=org, email=f"c{n}@{org.slug}.example")
        Invitation.objects.create(
            organization=org,
            email=f"new@{org.slug}.example",
            role=Role.VIEWER,
            invited_by=member.user,
        )
        record(Action.CONTACTS_EXPORTED, actor=member.user, organization=org, rows=10)
    return org_a, org_b


def _raw(sql: str, params=()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def test_a_query_without_organisation_filter_sees_only_the_scoped_organisation(
    two_organisations, admin
):
    org_a, _ = two_organisations

    with tenancy.tenant_scope(org_a.pk, admin.user.pk):
        emails = sorted(Contact.objects.values_list("email", flat=True))
        invitations = list(Invitation.objects.values_list("organization_id", flat=True))
        entries = set(AuditEntry.objects.values_list("organization_id", flat=True))
        organisations = list(Organization.objects.values_list("slug", flat=True))

    assert emails == ["c0@org-a.example", "c1@org-a.example"]
    assert invitations == [org_a.pk]
    assert entries == {org_a.pk}
    assert organisations == ["org-a"]


def test_a_raw_query_for_a_reads_nothing_of_b(two_organisations, admin):
    org_a, org_b = two_organisations
    b_contact = Contact.objects.filter(organization=org_b).first()

    with tenancy.tenant_scope(org_a.pk, admin.user.pk):
        by_id = _raw("SELECT email FROM contacts_contact WHERE id = %s", [b_contact.pk])
        by_org = _raw(
            "SELECT count(*) FROM contacts_contact WHERE organization_id = %s", [org_b.pk]
        )
        everything = _raw("SELECT DISTINCT organization_id FROM contacts_contact")
        b_audit = _raw(
            "SELECT count(*) FROM audit_auditentry WHERE organization_id = %s", [org_b.pk]
        )

    assert by_id == []
    assert by_org == [(0,)]
    assert everything == [(org_a.pk,)]
    assert b_audit == [(0,)]


def test_nothing_can_be_written_into_another_organisation(two_organisations, admin):
    org_a, org_b = two_organisations
    b_contact = Contact.objects.filter(organization=org_b).first()

    with tenancy.tenant_scope(org_a.pk, admin.user.pk):
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
            Contact.objects.create(organization=org_b, email="planted@org-b.example")
        updated = Contact.objects.filter(pk=b_contact.pk).update(first_name="changed")
        deleted = _raw("DELETE FROM contacts_contact WHERE id = %s RETURNING id", [b_contact.pk])

    b_contact.refresh_from_db()
    assert (updated, deleted, b_contact.first_name) == (0, [], "")


def test_without_any_scope_the_app_role_sees_nothing(two_organisations):
    # What a connection of the app role that forgot to choose gets: no rows, not all.
    with transaction.atomic():
        _raw("SELECT set_config('role', %s, true)", [tenancy.app_role()])
        _raw("SELECT set_config('app.cross_tenant', 'off', true)")
        rows = _raw("SELECT count(*) FROM contacts_contact")
        organisations = _raw("SELECT count(*) FROM accounts_organization")

    assert (rows, organisations) == ([(0,)], [(0,)])


def test_a_person_sees_their_own_memberships_in_other_organisations(org_a, org_b, outsider):
    # The organisation switcher lists them on every page; other people's stay hidden.
    both = make_member(org_a, Role.MARKETER, "both@example.com")
    Membership.objects.create(user=both.user, organization=org_b, role=Role.VIEWER)

    with tenancy.tenant_scope(org_a.pk, both.user.pk):
        mine = sorted(
            Membership.objects.filter(user=both.user).values_list("organization__slug", flat=True)
        )
        others_in_b = Membership.objects.filter(organization=org_b).exclude(user=both.user)
        hidden = list(others_in_b.values_list("user__email", flat=True))

    assert mine == ["org-a", "org-b"]
    assert hidden == []
    assert outsider.organization == org_b  # the row exists; the scope hides it


def test_cross_tenant_spans_organisations_visibly_and_then_ends(two_organisations, admin):
    org_a, _ = two_organisations

    with tenancy.tenant_scope(org_a.pk, admin.user.pk):
        with tenancy.cross_tenant():
            spanning = Contact.objects.count()
        back_in_scope = Contact.objects.count()

    assert (spanning, back_in_scope) == (5, 2)


def test_a_scope_ends_with_its_block(two_organisations, admin):
    org_a, _ = two_organisations
    before = tenancy.current_scope()

    with tenancy.tenant_scope(org_a.pk, admin.user.pk):
        inside = tenancy.current_scope()

    assert inside == {
        "role": tenancy.app_role(),
        "organization_id": str(org_a.pk),
        "user_id": str(admin.user.pk),
        "cross": "off",
    }
    assert tenancy.current_scope() == before
    assert Contact.objects.count() == 5


def test_a_task_session_is_confined_across_its_transactions_and_ends_with_its_block(
    two_organisations, admin
):
    org_a, _ = two_organisations
    before = tenancy.current_scope()

    with pytest.raises(RuntimeError), tenancy.tenant_session(org_a.pk, admin.user.pk):
        with transaction.atomic():
            first = Contact.objects.count()
        with transaction.atomic():
            Contact.objects.create(organization=org_a, email="new@org-a.example")
        second = Contact.objects.count()  # outside any transaction of its own
        with tenancy.cross_tenant():
            spanning = Contact.objects.count()
        inside = tenancy.current_scope()
        raise RuntimeError("the task fails")

    assert (first, second, spanning) == (2, 3, 6)
    assert inside == {
        "role": tenancy.app_role(),
        "organization_id": str(org_a.pk),
        "user_id": str(admin.user.pk),
        "cross": "off",
    }
    assert tenancy.current_scope() == before


# --- Through a real request -------------------------------------------------------------


@org_view("org.view")
def _careless_view(request):
    """A view that forgets its organisation filter everywhere it can."""
    return JsonResponse(
        {
            "contacts": sorted(Contact.objects.values_list("email", flat=True)),
            "raw": _raw("SELECT count(*) FROM contacts_contact")[0][0],
            "alerts": Alert.objects.count(),
            "scope": tenancy.current_scope(),
        }
    )


class _CarelessApiView(APIView):
    """The same carelessness behind the API's bearer-token authentication."""

    authentication_classes = [TokenAuthentication]
    permission_classes = [IsAuthenticated]

    def get(self, request):
        return Response(
            {
                "contacts": sorted(Contact.objects.values_list("email", flat=True)),
                "raw": _raw("SELECT count(*) FROM contacts_contact")[0][0],
                "scope": tenancy.current_scope(),
            }
        )


urlpatterns = [
    path("o/<slug:org_slug>/careless/", _careless_view),
    path("careless-api/", _CarelessApiView.as_view()),
    path("", include("config.urls")),
]


@pytest.mark.urls(__name__)
def test_a_request_for_a_reads_nothing_of_b_whatever_the_view_forgets(
    two_organisations, admin, admin_client
):
    org_a, _ = two_organisations

    response = admin_client.get("/o/org-a/careless/")

    assert response.status_code == 200
    assert response.json() == {
        "contacts": ["c0@org-a.example", "c1@org-a.example"],
        "raw": 2,
        "alerts": 0,
        "scope": {
            "role": tenancy.app_role(),
            "organization_id": str(org_a.pk),
            "user_id": str(admin.user.pk),
            "cross": "off",
        },
    }
    # The scope ended with the view: the test (unscoped) sees both organisations again.
    assert tenancy.current_scope()["organization_id"] == ""
    assert Contact.objects.count() == 5


@pytest.mark.urls(__name__)
def test_the_scope_is_the_members_own_organisation(two_organisations, outsider):
    client = Client()
    login_verified(client, outsider.user)

    mine = client.get("/o/org-b/careless/")
    theirs = client.get("/o/org-a/careless/")

    assert mine.json()["contacts"] == [
        "c0@org-b.example",
        "c1@org-b.example",
        "c2@org-b.example",
    ]
    assert theirs.status_code == 404


@pytest.mark.urls(__name__)
def test_an_api_request_for_a_reads_nothing_of_b(two_organisations, marketer):
    org_a, _ = two_organisations
    _token, secret = tokens.create_token(
        marketer, name="careless", scopes=["read"], expires_in_days=30
    )

    response = Client().get("/careless-api/", headers={"Authorization": f"Bearer {secret}"})

    assert response.status_code == 200
    assert response.json() == {
        "contacts": ["c0@org-a.example", "c1@org-a.example"],
        "raw": 2,
        "scope": {
            "role": tenancy.app_role(),
            "organization_id": str(org_a.pk),
            "user_id": str(marketer.user.pk),
            "cross": "off",
        },
    }
    assert tenancy.current_scope()["organization_id"] == ""


def test_the_alert_task_runs_inside_the_entrys_organisation(org_a, admin, marketer, org_b):
    from audit.tasks import evaluate_alerts

    entry = record(Action.CONTACTS_EXPORTED, actor=marketer.user, organization=org_a, rows=5000)

    assert evaluate_alerts(entry.pk) == 1
    assert Alert.objects.get().organization == org_a
    assert tenancy.current_scope()["organization_id"] == ""


# --- Tables without an organisation column (docs/security.md) ---------------------------


def test_the_app_role_writes_the_change_history_but_never_reads_it(db):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT has_table_privilege(%s, 'auditlog_logentry', 'INSERT'), "
            "has_table_privilege(%s, 'auditlog_logentry', 'SELECT'), "
            "has_column_privilege(%s, 'auditlog_logentry', 'id', 'SELECT'), "
            "has_column_privilege(%s, 'auditlog_logentry', 'changes', 'SELECT'), "
            "has_column_privilege(%s, 'auditlog_logentry', 'object_repr', 'SELECT')",
            [tenancy.app_role()] * 5,
        )
        assert cursor.fetchone() == (True, False, True, False, False)


def test_a_confined_save_writes_history_that_only_the_platform_reads(org_a, org_b, admin):
    from auditlog.models import LogEntry

    with tenancy.tenant_scope(org_a.pk, admin.user.pk):
        contact = Contact.objects.create(organization=org_a, email="new@org-a.example")
        with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
            list(LogEntry.objects.values_list("object_repr", "changes"))

    entry = LogEntry.objects.get_for_object(contact).get()
    assert (entry.action, entry.object_repr) == (LogEntry.Action.CREATE, str(contact))


def test_sessions_are_visible_to_their_person_and_to_their_organisations(
    org_a, org_b, admin, marketer, outsider
):
    from accounts.models import UserSession

    for member in (admin, marketer, outsider):
        UserSession.objects.create(user=member.user, session_key=f"key-{member.pk}")

    with tenancy.tenant_scope(org_a.pk, admin.user.pk):
        in_a = sorted(UserSession.objects.values_list("user__email", flat=True))
    with tenancy.tenant_scope(org_b.pk, outsider.user.pk):
        in_b = sorted(UserSession.objects.values_list("user__email", flat=True))
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
            UserSession.objects.create(user=marketer.user, session_key="planted")

    assert in_a == ["admin@a.example", "marketer@a.example"]
    assert in_b == ["outsider@b.example"]
