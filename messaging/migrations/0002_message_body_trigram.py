"""On PostgreSQL, a trigram index for message search (`body__icontains` is UPPER(body) LIKE ...).

Other databases search by a plain LIKE scan, which is correct, only slower.
"""

from django.db import migrations

CREATE = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS messaging_message_body_trgm ON messaging_message USING gin (UPPER(body) gin_trgm_ops)",
]
DROP = ["DROP INDEX IF EXISTS messaging_message_body_trgm"]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in CREATE:
            schema_editor.execute(statement)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in DROP:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("messaging", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
