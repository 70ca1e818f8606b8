"""A notice keeps what it says as a key and parameters (rendered per reader). Rows written before
keep only their `text`, shown as it is; nothing is rewritten."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0002_alerts_tables"),
    ]

    operations = [
        migrations.AddField(
            model_name="notification",
            name="keyed_text",
            field=models.JSONField(blank=True, null=True),
        ),
    ]
