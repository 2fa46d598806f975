from django.db import migrations

# Uploaded files are read back in slices (contacts.importing.storage.open_file); stored
# uncompressed, PostgreSQL fetches just the slice instead of decompressing the whole file.
_EXTERNAL = "ALTER TABLE contacts_importjob ALTER COLUMN file_data SET STORAGE EXTERNAL"
_EXTENDED = "ALTER TABLE contacts_importjob ALTER COLUMN file_data SET STORAGE EXTENDED"


def _run(sql):
    def operation(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return operation


class Migration(migrations.Migration):
    dependencies = [("contacts", "0001_initial")]

    operations = [migrations.RunPython(_run(_EXTERNAL), _run(_EXTENDED))]
