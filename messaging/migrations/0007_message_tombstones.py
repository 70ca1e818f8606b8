from django.db import migrations, models


class Migration(migrations.Migration):
    """Tombstones: a message destroyed under the retention policy keeps its seq and hashes."""

    dependencies = [
        ("messaging", "0006_message_text"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="destroyed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="message",
            name="destroyed_policy_id",
            field=models.BigIntegerField(blank=True, null=True),
        ),
    ]
