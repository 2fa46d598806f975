"""The chain head only moves forward, one entry at a time, and is never deleted.

Without this, someone with database access could delete the last entries and roll the
head back to match, and the verifier would see an intact (shorter) chain.
"""

from django.db import migrations

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_chain_head_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'audit chain head is append-only: DELETE refused'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.chain <> OLD.chain OR NEW.seq <> OLD.seq + 1 OR NOT EXISTS (
        SELECT 1 FROM audit_auditentry e
        WHERE e.chain = NEW.chain AND e.seq = NEW.seq AND e.hash = NEW.hash
    ) THEN
        RAISE EXCEPTION 'audit chain head may only advance to the entry just appended'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""

SQLITE_TRIGGERS = [
    """CREATE TRIGGER audit_chain_head_no_delete BEFORE DELETE ON audit_auditchainhead
    BEGIN SELECT RAISE(ABORT, 'audit chain head is append-only: DELETE refused'); END;""",
    """CREATE TRIGGER audit_chain_head_forward BEFORE UPDATE ON audit_auditchainhead
    WHEN NEW.chain <> OLD.chain OR NEW.seq <> OLD.seq + 1 OR NOT EXISTS (
        SELECT 1 FROM audit_auditentry e
        WHERE e.chain = NEW.chain AND e.seq = NEW.seq AND e.hash = NEW.hash)
    BEGIN SELECT RAISE(ABORT, 'audit chain head may only advance to the entry just appended');
    END;""",
]


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FUNCTION.replace("%", "%%"))
        schema_editor.execute(
            "CREATE TRIGGER audit_chain_head_guard BEFORE UPDATE OR DELETE "
            "ON audit_auditchainhead FOR EACH ROW EXECUTE FUNCTION audit_chain_head_guard();"
        )
    elif vendor == "sqlite":
        for statement in SQLITE_TRIGGERS:
            schema_editor.execute(statement)


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(
            "DROP TRIGGER IF EXISTS audit_chain_head_guard ON audit_auditchainhead;"
        )
        schema_editor.execute("DROP FUNCTION IF EXISTS audit_chain_head_guard();")
    elif vendor == "sqlite":
        schema_editor.execute("DROP TRIGGER IF EXISTS audit_chain_head_no_delete;")
        schema_editor.execute("DROP TRIGGER IF EXISTS audit_chain_head_forward;")


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_only_triggers")]

    operations = [migrations.RunPython(forwards, backwards)]
