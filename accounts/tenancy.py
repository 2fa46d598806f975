"""PostgreSQL row-level security: the database keeps organisations apart (the second wall).

The first wall is the code: every query goes through an organisation-scoped queryset and
the access helper (``accounts.access``). This module makes PostgreSQL enforce the same
thing, so that a query which forgets its organisation filter (or a raw SQL query) inside
an organisation's request still sees only that organisation's rows.

How it works
------------
- Every tenant table (``protected_tables()``: the models of ``audit.apps.tenant_models()``,
  the audit app's own models that carry ``organization``, and the automatic many-to-many
  tables of those models) has ROW LEVEL SECURITY enabled and *forced* (so it applies to
  the table owner too) and one policy, ``tenant_isolation``::

      USING (current_setting('app.cross_tenant', true) = 'on'
             OR organization_id = <app.organization_id>)

  ``accounts_organization`` matches on ``id``; it and ``accounts_membership`` also show a
  person their *own* memberships and organisations (``app.user_id``: the organisation
  switcher lists them on every page); a many-to-many table follows its parent row;
  ``accounts_usersession`` (no organisation) shows a person's sessions to that person and
  to the organisations they are a member of. django-guardian's grant tables (no
  organisation either) follow the granted object into its own table: one branch per
  model that receives grants (``grant_models()``: the models implementing
  ``grant_codename``, the protocol of ``accounts.access.has_perm``), ``ELSE false``;
  saving a grant on any other model is refused everywhere (``refuse_grant_without_branch``).
  django-auditlog's history is write-only for the app role (``WRITE_ONLY_TABLES``);
  users and Django's sessions are platform-wide (docs/security.md says why).
  With neither setting, a session sees nothing.
- ``install()`` creates the app role (``settings.DATABASE_APP_ROLE``, ``tayori_app``:
  NOLOGIN, NOSUPERUSER, NOBYPASSRLS) if it can, grants it the table rights it needs
  (never UPDATE/DELETE on the audit log), and creates what is missing of the above. It
  runs after every ``migrate`` (``post_migrate``), so a new tenant table gets its policy
  in the same deployment that creates it; it is idempotent and cheap when nothing is
  missing. Each policy carries a fingerprint of its text as its comment, so a policy whose
  text changed (a new model receiving grants) is recreated by the next ``migrate``.
  ``tests/security/test_row_level_security.py`` fails for a tenant table without a forced
  policy, ``tests/security/test_object_grants.py`` for a grant model without a branch.
- A request for an organisation page enters the organisation's scope in
  ``accounts.access.resolve_member`` once membership and every check has passed, an API
  request in ``accounts.api.authentication`` once its token is accepted
  (``scope_request``): the connection switches to the app role (superusers bypass RLS,
  so the switch matters wherever the app logs in as one, as the tests and the
  docker-compose setup do), ``app.organization_id`` and ``app.user_id`` are set and
  ``app.cross_tenant`` is off. ``end_request_scope`` undoes it when the view returns
  (``org_view``) and, as a safety net, when the request ends
  (``accounts.middleware.ActivityMiddleware``).
- Celery tasks enter a scope with ``tenant_scope(organization_id)``: a transaction with
  ``SET LOCAL`` (``set_config(..., true)``), which ends with it. A task that commits more
  than once on purpose (the contacts import) uses ``tenant_session(organization_id)``:
  session-level settings, restored when the block ends, as for a request.
- Work that spans organisations does so visibly: ``cross_tenant()`` (the delivery
  dispatcher and maintenance tasks, and anything inside a scope). Work outside any scope
  (management commands, the platform admin, login and the membership lookup itself)
  runs with ``app.cross_tenant = on``, set on every new connection (``_on_connect``).

Decisions (docs/security.md has the reasoning)
----------------------------------------------
- Requests use *session-level* settings with an explicit reset instead of ``SET LOCAL``
  in a request-wide transaction: ``ATOMIC_REQUESTS`` (or a transaction per
  organisation view) would change every view's transaction behaviour (refusals audited
  just before a 403 would roll back with it; long SMTP/DNS checks would hold a
  transaction open), and pytest-django runs each test inside a transaction anyway, where
  ``SET LOCAL`` would outlive the request and need the same explicit reset.
- The settings are written on the driver connection directly, so they do not appear in
  Django's query log: they are a per-request constant, not data queries, and the suite's
  query-count pins keep measuring what they are for (N+1 queries).
- This is a wall against mistakes in the code, not against SQL injection: any SQL the
  app can run can also change these settings. Parameterised queries (the ORM) are the
  wall against injection.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
from dataclasses import dataclass

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connection, connections, models, transaction
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate, pre_save
from django.dispatch import receiver

logger = logging.getLogger(__name__)

POLICY = "tenant_isolation"
CROSS = "current_setting('app.cross_tenant', true) = 'on'"
CURRENT_ORG = "NULLIF(current_setting('app.organization_id', true), '')::bigint"
CURRENT_USER = "NULLIF(current_setting('app.user_id', true), '')::bigint"
# Tables of the audit log itself: the app role may add to them, never change them.
APPEND_ONLY_TABLES = ("audit_auditentry", "auditlog_logentry")
# django-auditlog's change history has no organisation column (docs/security.md): the app
# role writes it (every tenant model's save does) and reads back only the new row's id
# (INSERT ... RETURNING), never its contents. The platform admin reads it unconfined.
WRITE_ONLY_TABLES = {"auditlog_logentry": ("id",)}


def app_role() -> str:
    return getattr(settings, "DATABASE_APP_ROLE", "tayori_app")


def enabled(conn=None) -> bool:
    conn = conn or connection
    return conn.vendor == "postgresql" and bool(app_role())


# --- What is protected ------------------------------------------------------------------


@dataclass(frozen=True)
class Protected:
    table: str
    using: str
    check: str

    @property
    def fingerprint(self) -> str:
        """Stored as the policy's comment: ``install()`` recreates a policy whose text has
        changed since it was installed (a new model receiving grants adds a branch)."""
        digest = hashlib.sha256(f"{self.using}\n{self.check}".encode()).hexdigest()
        return f"tayori:{digest[:32]}"

    def statements(self) -> list[str]:
        table = _quote(self.table)
        return [
            f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
            f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
            f"DROP POLICY IF EXISTS {POLICY} ON {table}",
            f"CREATE POLICY {POLICY} ON {table} USING ({self.using}) WITH CHECK ({self.check})",
            f"COMMENT ON POLICY {POLICY} ON {table} IS {_literal(self.fingerprint)}",
        ]


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def _literal(text: str) -> str:
    # Only for names from model metadata and this module, never input.
    return "'" + text.replace("'", "''") + "'"


def _org_column(model) -> str | None:
    for field in model._meta.concrete_fields:
        if field.name == "organization" and field.is_relation:
            return field.column
    return None


def protected_models() -> list[type[models.Model]]:
    """Every model whose rows belong to one organisation (the audit app's included)."""
    from audit.apps import tenant_models

    found = list(tenant_models())
    for model in apps.get_app_config("audit").get_models():
        if _org_column(model) and model not in found:
            found.append(model)
    return found


def protected_tables() -> list[Protected]:
    organization = apps.get_model("accounts", "Organization")
    membership = apps.get_model("accounts", "Membership")
    found: list[Protected] = []
    for model in protected_models():
        table = model._meta.db_table
        if model is organization:
            # Policy text is built from model metadata (quoted identifiers), never input.
            members = _quote(membership._meta.db_table)
            own = (
                f"id IN (SELECT m.organization_id FROM {members} m "  # noqa: S608 - see above
                f"WHERE m.user_id = {CURRENT_USER})"
            )
            scoped = f"{CROSS} OR id = {CURRENT_ORG}"
            found.append(Protected(table, f"{scoped} OR {own}", scoped))
            continue
        column = _quote(_org_column(model))
        scoped = f"{CROSS} OR {column} = {CURRENT_ORG}"
        if model is membership:
            found.append(Protected(table, f"{scoped} OR user_id = {CURRENT_USER}", scoped))
        else:
            found.append(Protected(table, scoped, scoped))
        for field in model._meta.local_many_to_many:
            through = field.remote_field.through
            if not through._meta.auto_created:
                continue  # an explicit through model carries organization itself
            parent, pk = _quote(field.m2m_column_name()), _quote(model._meta.pk.column)
            parent_table = _quote(table)
            follows = (
                f"{CROSS} OR EXISTS (SELECT 1 FROM {parent_table} p "  # noqa: S608 - metadata
                f"WHERE p.{pk} = {parent})"
            )
            found.append(Protected(through._meta.db_table, follows, follows))
    found.append(_user_sessions(membership))
    found.extend(_object_grants())
    return found


def _user_sessions(membership) -> Protected:
    """A person's signed-in sessions (no organisation of their own: one session serves
    all of a person's organisations). Visible to the person, and in an organisation's
    scope for its members (an admin signs a member out everywhere)."""
    user_session = apps.get_model("accounts", "UserSession")
    table, members = _quote(user_session._meta.db_table), _quote(membership._meta.db_table)
    rule = (
        f"{CROSS} OR user_id = {CURRENT_USER} OR EXISTS (SELECT 1 FROM {members} m "  # noqa: S608 - metadata
        f"WHERE m.user_id = {table}.user_id AND m.organization_id = {CURRENT_ORG})"
    )
    return Protected(user_session._meta.db_table, rule, rule)


# --- django-guardian's object grants ------------------------------------------------------

# A grant names its object by content type and ``object_pk`` (text). The branches take
# integer keys only, and check that the text is digits before casting it: a malformed key
# is refused, never an error that would break every read of the table.
_INTEGER_KEYS = frozenset(
    {
        "AutoField",
        "BigAutoField",
        "SmallAutoField",
        "IntegerField",
        "BigIntegerField",
        "SmallIntegerField",
        "PositiveIntegerField",
        "PositiveBigIntegerField",
        "PositiveSmallIntegerField",
    }
)
_NAME = re.compile(r"^[a-z0-9_]+$")


def grant_models() -> list[type[models.Model]]:
    """Every model that receives django-guardian grants: the models implementing the
    object-grant protocol of ``accounts.access.has_perm`` (``grant_codename``), the only
    way the product consults a grant. Each has a branch in the grant tables' policy; a
    grant on any other model is refused when saved (``refuse_grant_without_branch``) and,
    inside a scope, by the policy itself (``ELSE false``)."""
    found = [m for m in apps.get_models() if callable(getattr(m, "grant_codename", None))]
    return sorted(found, key=lambda model: model._meta.label)


def grant_permission_models() -> list[type[models.Model]]:
    """django-guardian's grant models (per user, per group), as its settings name them."""
    from guardian.utils import get_group_obj_perms_model, get_user_obj_perms_model

    return [get_user_obj_perms_model(), get_group_obj_perms_model()]


def _object_grants() -> list[Protected]:
    """A grant is visible and writable in the scope of the organisation that owns its
    object: one ``CASE`` branch per model of ``grant_models()``, matching the content type
    (looked up by name, so no database's ids are baked in) and the object's row in its own
    table. Grants on objects of other organisations, on deleted objects and on models
    without a branch are neither visible nor writable there."""
    content_types = _quote(apps.get_model("contenttypes", "ContentType")._meta.db_table)
    found = []
    for grant in grant_permission_models():
        try:
            content_type = _quote(grant._meta.get_field("content_type").column)
            object_pk = _quote(grant._meta.get_field("object_pk").column)
        except LookupError as error:  # a direct foreign-key grant model
            raise ImproperlyConfigured(
                f"{grant._meta.label}: only generic grants (content type and object_pk) "
                "have a row-level security policy (accounts.tenancy)."
            ) from error
        table = _quote(grant._meta.db_table)
        branches = " ".join(
            _grant_branch(model, f"{table}.{object_pk}", content_types) for model in grant_models()
        )
        rule = (
            f"{CROSS} OR CASE {table}.{content_type} {branches} ELSE false END"
            if branches
            else f"{CROSS} OR false"
        )
        found.append(Protected(grant._meta.db_table, rule, rule))
    return found


def _grant_branch(model, object_pk: str, content_types: str) -> str:
    meta = model._meta
    organization = apps.get_model("accounts", "Organization")
    column = meta.pk.column if model is organization else _org_column(model)
    if column is None:
        raise ImproperlyConfigured(
            f"{meta.label} receives object grants (grant_codename) but has no organization: "
            "its grants could not be confined to an organisation (accounts.tenancy)."
        )
    if meta.pk.get_internal_type() not in _INTEGER_KEYS:
        raise ImproperlyConfigured(
            f"{meta.label} receives object grants but its key is not an integer; "
            "accounts.tenancy._grant_branch needs a branch for its key type."
        )
    if not (_NAME.match(meta.app_label) and _NAME.match(meta.model_name)):
        raise ImproperlyConfigured(f"{meta.label}: unexpected characters in its name")
    # Policy text is built from model metadata (quoted identifiers and literals), never input.
    kind = (
        f"(SELECT ct.id FROM {content_types} ct "  # noqa: S608 - metadata
        f"WHERE ct.app_label = {_literal(meta.app_label)} "
        f"AND ct.model = {_literal(meta.model_name)})"
    )
    owned = (
        f"EXISTS (SELECT 1 FROM {_quote(meta.db_table)} o "  # noqa: S608 - metadata
        f"WHERE o.{_quote(meta.pk.column)} = {object_pk}::bigint "
        f"AND o.{_quote(column)} = {CURRENT_ORG})"
    )
    return f"WHEN {kind} THEN CASE WHEN {object_pk} ~ '^[0-9]{{1,18}}$' THEN {owned} ELSE false END"


def refuse_grant_without_branch(sender, instance, raw=False, **kwargs) -> None:
    """``pre_save`` of guardian's grant models: a grant on a model outside
    ``grant_models()`` is refused on every database and in every scope, so a new kind of
    grant fails its first test instead of being written unconfined and never seen inside
    an organisation. (Bulk writes skip signals; inside a scope the policy refuses them.)"""
    if raw:
        return
    from django.contrib.contenttypes.models import ContentType

    model = ContentType.objects.get_for_id(instance.content_type_id).model_class()
    if model not in grant_models():
        label = model._meta.label if model is not None else instance.content_type_id
        raise ImproperlyConfigured(
            f"A grant on {label}: this model does not receive object grants. Implement "
            "grant_codename() on it (accounts.access.has_perm) so that the grant tables' "
            "row-level security policy gets a branch for it (accounts.tenancy)."
        )


def connect_grant_guard() -> None:
    for grant in grant_permission_models():
        pre_save.connect(
            refuse_grant_without_branch,
            sender=grant,
            dispatch_uid=f"accounts.tenancy.grant_guard.{grant._meta.label}",
        )


# --- Installing the policies -------------------------------------------------------------


_STATE = """
SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, obj_description(p.oid, 'pg_policy')
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
LEFT JOIN pg_policy p ON p.polrelid = c.oid AND p.polname = %s
WHERE c.relname = ANY(%s) AND c.relkind IN ('r', 'p')
"""


def _ensure_role(cursor, role: str) -> None:
    cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
    if cursor.fetchone():
        return
    try:
        with transaction.atomic():
            cursor.execute(
                f"CREATE ROLE {_quote(role)} NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB "
                "NOCREATEROLE"
            )
    except DatabaseError as error:
        # Another process created it meanwhile, or this login may not create roles.
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        if not cursor.fetchone():
            raise RuntimeError(
                f"The database role {role!r} does not exist and cannot be created by this "
                f"login ({error}). Create it (docs/security.md) and run migrate again."
            ) from error


def _grant(cursor, role: str) -> None:
    quoted = _quote(role)
    cursor.execute(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') "
        "AND NOT has_table_privilege(%s, c.oid, 'SELECT')",
        [role],
    )
    (missing,) = cursor.fetchone()
    missing -= _write_only_present(cursor, role, readable=False)
    cursor.execute(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relkind = 'S' "
        # CASE: SQL does not promise to test relkind before calling the function.
        "AND CASE WHEN c.relkind = 'S' THEN NOT has_sequence_privilege(%s, c.oid, 'USAGE') "
        "ELSE false END",
        [role],
    )
    (missing_sequences,) = cursor.fetchone()
    if not (missing or missing_sequences):
        _write_only(cursor, role)
        return
    cursor.execute("SELECT current_schema()")
    schema = _quote(cursor.fetchone()[0])
    cursor.execute(f"GRANT USAGE ON SCHEMA {schema} TO {quoted}")
    cursor.execute(
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {quoted}"
    )
    cursor.execute(f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {schema} TO {quoted}")
    cursor.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {quoted}"
    )
    cursor.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} "
        f"GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {quoted}"
    )
    for table in APPEND_ONLY_TABLES:
        cursor.execute("SELECT to_regclass(%s)", [table])
        if cursor.fetchone()[0]:
            cursor.execute(f"REVOKE UPDATE, DELETE ON {_quote(table)} FROM {quoted}")
    _write_only(cursor, role)


def _write_only_present(cursor, role: str, *, readable: bool) -> int:
    """How many write-only tables exist whose table-wide SELECT for ``role`` is
    ``readable`` (their missing SELECT is by design, not a missing grant)."""
    count = 0
    for table in WRITE_ONLY_TABLES:
        cursor.execute("SELECT to_regclass(%s)", [table])
        if cursor.fetchone()[0]:
            cursor.execute("SELECT has_table_privilege(%s, %s, 'SELECT')", [role, table])
            count += cursor.fetchone()[0] is readable
    return count


def _write_only(cursor, role: str) -> None:
    if not _write_only_present(cursor, role, readable=True):
        return
    quoted = _quote(role)
    for table, columns in WRITE_ONLY_TABLES.items():
        cursor.execute("SELECT to_regclass(%s)", [table])
        if cursor.fetchone()[0]:
            # Names from this module and the settings, quoted; never input.
            cursor.execute(f"REVOKE SELECT ON {_quote(table)} FROM {quoted}")  # noqa: S608
            names = ", ".join(_quote(c) for c in columns)
            cursor.execute(f"GRANT SELECT ({names}) ON {_quote(table)} TO {quoted}")


def install(using: str = "default") -> list[str]:
    """Create what is missing: the app role, its grants, forced RLS and the policies.
    Returns the tables whose policy was (re)created. A no-op outside PostgreSQL."""
    conn = connections[using]
    if not enabled(conn):
        return []
    wanted = {p.table: p for p in protected_tables()}
    changed = []
    with conn.cursor() as cursor:
        _ensure_role(cursor, app_role())
        _grant(cursor, app_role())
        cursor.execute(_STATE, [POLICY, list(wanted)])
        current = {row[0]: row[1:] for row in cursor.fetchall()}
        for table, protected in wanted.items():
            if table not in current:
                continue  # not created yet (a later migration); the next run covers it
            rls, forced, fingerprint = current[table]
            if rls and forced and fingerprint == protected.fingerprint:
                continue
            # One transaction: between DROP and CREATE the forced table would show nothing.
            with transaction.atomic(using=using):
                for statement in protected.statements():
                    cursor.execute(statement)
            changed.append(table)
    if changed:
        logger.info("row-level security installed on %s", ", ".join(sorted(changed)))
    return changed


@receiver(post_migrate, dispatch_uid="accounts.tenancy.install")
def _after_migrate(sender, app_config=None, using="default", **kwargs):
    # post_migrate is sent once per app; the accounts app's turn is enough, and by then
    # every migration of this run has been applied.
    if app_config is not None and app_config.label == "accounts":
        install(using)


# --- Entering and leaving a scope --------------------------------------------------------

_SETTINGS = ("role", "app.organization_id", "app.user_id", "app.cross_tenant")


def _driver(conn):
    conn.ensure_connection()
    return conn.connection


def _read(conn) -> tuple[str, ...]:
    row = (
        _driver(conn)
        .execute(
            "SELECT current_setting('role'), current_setting('app.organization_id', true), "
            "current_setting('app.user_id', true), current_setting('app.cross_tenant', true)"
        )
        .fetchone()
    )
    return tuple("" if value is None else value for value in row)


def _write(conn, values: tuple[str, ...], *, local: bool) -> None:
    # One round trip; on the driver connection, outside Django's query log (see above).
    _driver(conn).execute(
        "SELECT set_config('role', %s, %s), set_config('app.organization_id', %s, %s), "
        "set_config('app.user_id', %s, %s), set_config('app.cross_tenant', %s, %s)",
        [values[0], local, values[1], local, values[2], local, values[3], local],
    )


def _scoped_values(organization_id, user_id) -> tuple[str, ...]:
    user = "" if user_id is None else str(int(user_id))
    return (app_role(), str(int(organization_id)), user, "off")


_UNSCOPED = ("none", "", "", "on")


def scope_request(request, organization, user=None) -> None:
    """Confine the rest of this request to ``organization`` (see the module docstring);
    ``user`` (the request's user by default) sees their own memberships."""
    if not enabled():
        return
    user_id = getattr(user if user is not None else request.user, "pk", None)
    _write(connection, _scoped_values(organization.pk, user_id), local=False)
    request._tenant_scope = True


def end_request_scope(request) -> None:
    """Leave the request's scope; safe to call more than once, or when none was entered."""
    if not getattr(request, "_tenant_scope", False):
        return
    request._tenant_scope = False
    _restore_session(_UNSCOPED)


@contextlib.contextmanager
def tenant_scope(organization_id: int, user_id: int | None = None):
    """For Celery tasks and commands: a transaction confined to one organisation
    (``SET LOCAL``: it ends with the transaction)."""
    if not enabled():
        with transaction.atomic():
            yield
        return
    nested = connection.in_atomic_block
    with transaction.atomic():
        previous = _read(connection) if nested else None
        _write(connection, _scoped_values(organization_id, user_id), local=True)
        try:
            yield
        finally:
            if previous is not None and not connection.needs_rollback:
                _write(connection, previous, local=True)


# What a connection outside any scope carries (``_on_connect``); ``tenant_session``'s
# ``restore`` for a task that starts outside any scope by construction.
UNSCOPED = _UNSCOPED


@contextlib.contextmanager
def tenant_session(
    organization_id: int, user_id: int | None = None, *, restore: tuple[str, ...] | None = None
):
    """For a Celery task that chooses its own transactions: the connection is confined
    to one organisation for the whole block, across its commits, like a request.

    ``tenant_scope`` would put the block in one transaction; work whose intermediate
    commits matter cannot take that (an import's "running" state the page shows while it
    runs; a delivery claimed and committed before its SMTP conversation, so that a crash
    leaves it visibly ``unknown``). So this writes session-level settings and restores
    what was there when the block ends, however it ends; a connection that cannot be
    restored is closed rather than handed to the next task in this scope. Inside, work
    that spans organisations still says so with ``cross_tenant()``.

    ``restore``: the settings to put back, when the caller knows them (a Celery task
    starts outside any scope: ``UNSCOPED``), saving the round trip that reads them."""
    if not enabled():
        yield
        return
    previous = restore if restore is not None else _read(connection)
    _write(connection, _scoped_values(organization_id, user_id), local=False)
    try:
        yield
    finally:
        _restore_session(previous)


def _restore_session(previous: tuple[str, ...]) -> None:
    """Put back session-level settings after a request or a ``tenant_session``."""
    if connection.needs_rollback:
        # A transaction open since before the block is rolling back: the settings were
        # written inside it and go with it (and nothing else can run on it anyway).
        return
    try:
        _write(connection, previous, local=False)
    except DatabaseError:
        # A connection we cannot reset must not serve the next request or task in this
        # scope.
        logger.exception("could not leave the tenant scope; closing the connection")
        connection.close()


@contextlib.contextmanager
def cross_tenant():
    """Span every organisation for the duration of the block, visibly in the code. Use
    only where the work genuinely concerns several organisations."""
    if not enabled():
        yield
        return
    previous = _read(connection)
    local = connection.in_atomic_block
    _write(connection, ("none", "", previous[2], "on"), local=local)
    try:
        yield
    finally:
        if not connection.needs_rollback:
            _write(connection, previous, local=local)


def current_scope() -> dict[str, str]:
    """What this connection is confined to right now (for tests and debugging)."""
    role, organization, user, cross = _read(connection)
    return {"role": role, "organization_id": organization, "user_id": user, "cross": cross}


@receiver(connection_created, dispatch_uid="accounts.tenancy.on_connect")
def _on_connect(sender, connection, **kwargs):
    # Work outside any scope spans organisations, as before row-level security (see the
    # module docstring). A connection of the app role without this sees nothing.
    if enabled(connection):
        connection.connection.execute("SELECT set_config('app.cross_tenant', 'on', false)")
