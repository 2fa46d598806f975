"""Migration operations for indexes segments need on contacts' tables (PostgreSQL only).

Index builds are CONCURRENTLY, so a migration using them sets ``atomic = False``. On
other databases (SQLite in development) they do nothing. Table names are read from the
migration state, so a renamed table or through model in contacts does not break them.
(A module starting with "_" is not a migration; Django's loader skips it.)
"""

from __future__ import annotations

from django.db import migrations


class ContactsIndex(migrations.RunSQL):
    """``CREATE INDEX CONCURRENTLY`` on a contacts table; reversed by dropping it.

    ``table`` is ``"Contact"``, or ``"Contact.<m2m field>"`` for a join table.
    """

    def __init__(self, name, table, definition):
        self.index_name, self.table, self.definition = name, table, definition
        super().__init__(sql="", reverse_sql="", elidable=False)

    def _db_table(self, state_apps):
        model_name, _, m2m = self.table.partition(".")
        model = state_apps.get_model("contacts", model_name)
        if m2m:
            model = model._meta.get_field(m2m).remote_field.through
        return model._meta.db_table

    def _create(self, schema_editor, state_apps):
        table = schema_editor.quote_name(self._db_table(state_apps))
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {self.index_name} ON {table} "
            f"{self.definition}"
        )

    def _drop(self, schema_editor):
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {self.index_name}")

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            self._create(schema_editor, to_state.apps)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            self._drop(schema_editor)

    def describe(self):
        return f"Create index {self.index_name} on contacts' {self.table}"

    def deconstruct(self):
        return (self.__class__.__qualname__, [self.index_name, self.table, self.definition], {})


class DropContactsIndex(ContactsIndex):
    """The reverse: drop an index (its definition is kept to re-create it backwards)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            self._drop(schema_editor)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            self._create(schema_editor, to_state.apps)

    def describe(self):
        return f"Drop index {self.index_name} on contacts' {self.table}"
