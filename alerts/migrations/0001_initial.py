"""The alert models move here from messaging, in the migration state only.

Their tables were created by messaging/0004_alerts and keep every row: this migration tells Django
that the models are now the alerts app's (still on messaging's tables, under their old index
names); messaging/0005 forgets them on its side, and alerts/0002 renames the tables.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('messaging', '0004_alerts'),
        ('tenancy', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='EscalationPolicy',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=200)),
                        ('kind', models.CharField(blank=True, default='', max_length=40)),
                        ('min_severity', models.SmallIntegerField(choices=[(10, 'Info'), (20, 'Warning'), (30, 'Critical')], default=10)),
                        ('levels', models.JSONField(default=list)),
                        ('active', models.BooleanField(default=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('tenant', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='escalation_policies', to='tenancy.tenant')),
                    ],
                    options={'db_table': 'messaging_escalationpolicy'},
                ),
                migrations.CreateModel(
                    name='Alert',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('kind', models.CharField(max_length=40)),
                        ('severity', models.SmallIntegerField(choices=[(10, 'Info'), (20, 'Warning'), (30, 'Critical')], default=20)),
                        ('state', models.CharField(choices=[('open', 'Open'), ('acknowledged', 'Acknowledged'), ('in_progress', 'In progress'), ('resolved', 'Resolved')], default='open', max_length=20)),
                        ('level', models.SmallIntegerField(default=0)),
                        ('dedupe_key', models.CharField(max_length=200)),
                        ('title', models.CharField(max_length=300)),
                        ('body', models.TextField(blank=True, default='')),
                        ('subject_kind', models.CharField(blank=True, default='', max_length=40)),
                        ('subject_ref', models.CharField(blank=True, default='', max_length=64)),
                        ('core_audience', models.CharField(blank=True, default='', max_length=300)),
                        ('payload', models.JSONField(blank=True, default=dict)),
                        ('cards', models.JSONField(blank=True, default=list)),
                        ('next_escalation_at', models.DateTimeField(blank=True, null=True)),
                        ('opened_at', models.DateTimeField()),
                        ('acknowledged_at', models.DateTimeField(blank=True, null=True)),
                        ('started_at', models.DateTimeField(blank=True, null=True)),
                        ('resolved_at', models.DateTimeField(blank=True, null=True)),
                        ('recovered', models.BooleanField(default=False)),
                        ('acknowledged_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('partner', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='tenancy.organization')),
                        ('resolved_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('started_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('tenant', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='alerts', to='tenancy.tenant')),
                        ('policy', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='alerts.escalationpolicy')),
                    ],
                    options={'db_table': 'messaging_alert'},
                ),
                migrations.CreateModel(
                    name='Notification',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('kind', models.CharField(max_length=20)),
                        ('level', models.SmallIntegerField(default=0)),
                        ('channels', models.JSONField(blank=True, default=list)),
                        ('text', models.CharField(max_length=500)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('read_at', models.DateTimeField(blank=True, null=True)),
                        ('alert', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='notifications', to='alerts.alert')),
                        ('tenant', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='tenancy.tenant')),
                        ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='notifications', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={'db_table': 'messaging_notification'},
                ),
                migrations.CreateModel(
                    name='AlertEvent',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('action', models.CharField(max_length=20)),
                        ('level', models.SmallIntegerField(default=0)),
                        ('at', models.DateTimeField()),
                        ('actor', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('alert', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='events', to='alerts.alert')),
                        ('tenant', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='tenancy.tenant')),
                    ],
                    options={
                        'db_table': 'messaging_alertevent',
                        'ordering': ['at', 'pk'],
                        'indexes': [models.Index(fields=['tenant', 'action', 'at'], name='messaging_a_tenant__0b6300_idx')],
                    },
                ),
                migrations.AddIndex(
                    model_name='escalationpolicy',
                    index=models.Index(fields=['tenant', 'kind', 'active'], name='messaging_e_tenant__ba6128_idx'),
                ),
                migrations.AddIndex(
                    model_name='alert',
                    index=models.Index(fields=['tenant', 'state', 'opened_at'], name='messaging_a_tenant__0fa95b_idx'),
                ),
                migrations.AddIndex(
                    model_name='alert',
                    index=models.Index(fields=['tenant', 'kind', 'opened_at'], name='messaging_a_tenant__a06f6c_idx'),
                ),
                migrations.AddIndex(
                    model_name='alert',
                    index=models.Index(fields=['tenant', 'subject_kind', 'subject_ref'], name='messaging_a_tenant__be348f_idx'),
                ),
                migrations.AddIndex(
                    model_name='alert',
                    index=models.Index(condition=models.Q(('state', 'open')), fields=['next_escalation_at'], name='alert_due_open'),
                ),
                migrations.AddConstraint(
                    model_name='alert',
                    constraint=models.UniqueConstraint(condition=models.Q(('state', 'resolved'), _negated=True), fields=('tenant', 'dedupe_key'), name='alert_one_unresolved_per_key'),
                ),
                migrations.AddIndex(
                    model_name='notification',
                    index=models.Index(fields=['tenant', 'user', 'read_at'], name='messaging_n_tenant__7bed94_idx'),
                ),
                migrations.AddConstraint(
                    model_name='notification',
                    constraint=models.UniqueConstraint(fields=('user', 'alert', 'kind', 'level'), name='notification_once'),
                ),
            ],
            database_operations=[],
        ),
    ]
