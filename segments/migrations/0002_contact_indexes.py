"""Indexes on the contacts tables that segment filters use (PostgreSQL only).

They live here, not in contacts, because segments are what needs them: the contacts app
never filters this way. Built CONCURRENTLY so that adding them to a live database with
millions of contacts does not block imports (hence ``atomic = False``). On SQLite (the
development default) the operations do nothing. Table names are read from the migration
state, so a renamed table or through model in contacts does not break this migration.

- attributes GIN (jsonb_path_ops): custom-attribute equality, choices, yes/no
  (``attributes @> '{"plan": "gold"}'``).
- (organization_id, created_at): "added within the last N days", "added before ...".
- (organization_id, reverse(lower(email)) text_pattern_ops): the e-mail domain as a
  prefix match on the reversed address; replaced by 0003.
- tags' join table (tag_id, contact_id): contacts having a tag, answered from the index
  alone.
"""

from django.db import migrations

from segments.migrations._operations import ContactsIndex


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
