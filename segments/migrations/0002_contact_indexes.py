"""Indexes on the contacts tables that segment filters use (PostgreSQL only).

They live here, not in contacts, because segments are what needs them: the contacts app
never filters this way. Built CONCURRENTLY so that adding them to a live database with
millions of contacts does not block imports (hence ``atomic = False``). On SQLite (the
development default) the operations do nothing. Table names are read from the migration
state, so a renamed table or through model in contacts does not break this migration.

- attributes GIN (jsonb_path_ops): custom-attribute equality, choices, yes/no
  (``attributes @> '{"plan": "gold"}'``).
- (organization_id, created_at): "added within the last N days", "added before ...".
- (organization_id, reverse(lower(email)) text_pattern_ops): the e-mail domain, compiled
  to a prefix match on the reversed address (``'pj.en.omocod@%'``).
- tags' join table (tag_id, contact_id): contacts having a tag, answered from the index
  alone.
"""

from django.db import migrations


class ContactsIndex(migrations.RunSQL):
    """``CREATE INDEX CONCURRENTLY`` on a contacts table (PostgreSQL only; elsewhere a
    no-op). ``table`` is ``"Contact"`` or ``"Contact.<m2m field>"`` for a join table."""

    def __init__(self, name, table, definition):
        self.index_name, self.table, self.definition = name, table, definition
        super().__init__(sql="", reverse_sql="", elidable=False)

    def _db_table(self, state_apps):
        model_name, _, m2m = self.table.partition(".")
        model = state_apps.get_model("contacts", model_name)
        if m2m:
            model = model._meta.get_field(m2m).remote_field.through
        return model._meta.db_table

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return
        table = schema_editor.quote_name(self._db_table(to_state.apps))
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {self.index_name} ON {table} "
            f"{self.definition}"
        )

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {self.index_name}")

    def describe(self):
        return f"Create index {self.index_name} on contacts' {self.table}"

    def deconstruct(self):
        return (
            self.__class__.__qualname__,
            [self.index_name, self.table, self.definition],
            {},
        )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("segments", "0001_initial"),
        ("contacts", "0001_initial"),
    ]

    operations = [
        ContactsIndex(
            "segments_contact_attributes_gin", "Contact", "USING gin (attributes jsonb_path_ops)"
        ),
        ContactsIndex("segments_contact_org_created", "Contact", "(organization_id, created_at)"),
        ContactsIndex(
            "segments_contact_org_email_rev",
            "Contact",
            "(organization_id, reverse(lower(email)) text_pattern_ops)",
        ),
        ContactsIndex("segments_contact_tag_contact", "Contact.tags", "(tag_id, contact_id)"),
    ]
