"""A trigram index for message search (`body__icontains` is UPPER(body) LIKE ...)."""

from django.db import migrations

CREATE = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS messaging_message_body_trgm ON messaging_message USING gin (UPPER(body) gin_trgm_ops)",
]
DROP = ["DROP INDEX IF EXISTS messaging_message_body_trgm"]


class Migration(migrations.Migration):
    dependencies = [("messaging", "0001_initial")]
    operations = [migrations.RunSQL(CREATE, DROP)]
