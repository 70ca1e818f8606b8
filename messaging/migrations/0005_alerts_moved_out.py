"""The alert models are the alerts app's now (alerts/0001): messaging forgets them, in the
migration state only. Their tables and rows are left alone; alerts/0002 renames the tables."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('messaging', '0004_alerts'),
        ('alerts', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name='Notification'),
                migrations.DeleteModel(name='AlertEvent'),
                migrations.DeleteModel(name='Alert'),
                migrations.DeleteModel(name='EscalationPolicy'),
            ],
            database_operations=[],
        ),
    ]
