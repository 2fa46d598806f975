"""An index on delivery events by (organization, at): hot prospects ranks one
organisation's opens and clicks of the last N days. Built CONCURRENTLY on PostgreSQL
(see ``_operations``), hence ``atomic = False``."""

from django.db import migrations, models

from delivery.migrations._operations import AddIndexConcurrentlyOnPostgres


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("accounts", "0003_user_sessions"),
        ("delivery", "0003_relay_test_ok_blank"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name="deliveryevent",
            index=models.Index(fields=["organization", "at"], name="event_org_at"),
        ),
    ]
