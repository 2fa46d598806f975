"""Migration operations for delivery's large tables.

(A module starting with "_" is not a migration; Django's loader skips it.)
"""

from __future__ import annotations

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db.migrations.operations import AddIndex


class AddIndexConcurrentlyOnPostgres(AddIndexConcurrently):
    """``CREATE INDEX CONCURRENTLY`` on PostgreSQL, so building an index on a table the
    tracking endpoints write to all the time does not block those writes; a plain
    ``AddIndex`` elsewhere (SQLite in development). The migration sets ``atomic = False``.

    Should a concurrent build fail it leaves an invalid index behind: drop it
    (``DROP INDEX CONCURRENTLY <name>``) and migrate again.
    """

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)
        else:
            AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
        else:
            AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)
