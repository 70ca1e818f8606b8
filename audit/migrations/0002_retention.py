"""Retention policies, legal holds, and retention_tombstone(): the one way a message's content is
destroyed (docs/AUDIT_RETENTION.md, "Grants").

The function is SECURITY DEFINER, owned by the role that runs this migration (the owner of the
tables): the app's production role may not UPDATE messages, only EXECUTE this function, which
re-checks every id it is given against the tenant's policy and the admin holds before clearing it.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

TOMBSTONE_FUNCTION = """
CREATE FUNCTION retention_tombstone(p_tenant_id bigint, p_message_ids bigint[])
RETURNS TABLE(message_id bigint, room_id bigint, seq bigint, hash varchar, policy_id bigint, files text[])
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, public
AS $fn$
    WITH doomed AS (
        -- Re-checked here, whatever the caller says: the tenant, not yet destroyed, older than its
        -- room kind's policy allows (the database's clock, not the caller's), and no admin hold
        -- on its room or on the record it is linked to.
        SELECT m.id, p.id AS policy_id
        FROM messaging_message m
        JOIN messaging_room r ON r.id = m.room_id
        JOIN audit_retentionpolicy p ON p.tenant_id = m.tenant_id AND p.room_kind = r.kind
        WHERE m.id = ANY(p_message_ids)
          AND m.tenant_id = p_tenant_id
          AND m.destroyed_at IS NULL
          AND p.days IS NOT NULL
          AND m.created_at < now() - make_interval(days => p.days)
          AND NOT EXISTS (
              SELECT 1 FROM audit_legalhold h
              WHERE h.tenant_id = m.tenant_id AND h.released_at IS NULL
                AND (h.room_id = m.room_id
                     OR (m.subject_kind <> '' AND h.subject_kind = m.subject_kind AND h.subject_ref = m.subject_ref)))
        FOR UPDATE OF m
    ),
    old_files AS (
        SELECT a.message_id, array_agg(a.file ORDER BY a.id) FILTER (WHERE a.file <> '') AS files
        FROM messaging_attachment a JOIN doomed d ON d.id = a.message_id
        GROUP BY a.message_id
    ),
    cleared AS (
        -- The file goes (the caller deletes it from storage after commit); its sha256 and size stay.
        UPDATE messaging_attachment a SET file = '', name = ''
        FROM doomed d WHERE a.message_id = d.id
        RETURNING a.id
    ),
    tombstoned AS (
        UPDATE messaging_message m
        SET body = '', text = NULL, payload = '{}'::jsonb, actions = '[]'::jsonb,
            destroyed_at = now(), destroyed_policy_id = d.policy_id
        FROM doomed d WHERE m.id = d.id
        RETURNING m.id, m.room_id, m.seq, m.hash, d.policy_id
    )
    SELECT t.id, t.room_id, t.seq, t.hash, t.policy_id, coalesce(f.files, '{}'::text[])
    FROM tombstoned t LEFT JOIN old_files f ON f.message_id = t.id
    ORDER BY t.room_id, t.seq
$fn$;
REVOKE ALL ON FUNCTION retention_tombstone(bigint, bigint[]) FROM PUBLIC;
"""

DROP_TOMBSTONE_FUNCTION = "DROP FUNCTION IF EXISTS retention_tombstone(bigint, bigint[]);"


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0001_initial'),
        ('messaging', '0007_message_tombstones'),
        ('tenancy', '0003_user_preferences'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='LegalHold',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('subject_kind', models.CharField(blank=True, default='', max_length=40)),
                ('subject_ref', models.CharField(blank=True, default='', max_length=64)),
                ('reason', models.TextField()),
                ('placed_at', models.DateTimeField()),
                ('released_at', models.DateTimeField(blank=True, null=True)),
                ('release_reason', models.TextField(blank=True, default='')),
                ('placed_by', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('released_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('room', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='messaging.room')),
                ('tenant', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='tenancy.tenant')),
            ],
            options={
                'indexes': [models.Index(condition=models.Q(('released_at__isnull', True)), fields=['tenant', 'subject_kind', 'subject_ref'], name='legal_hold_active_record'), models.Index(condition=models.Q(('released_at__isnull', True)), fields=['room'], name='legal_hold_active_room')],
                'constraints': [models.CheckConstraint(condition=models.Q(models.Q(('room__isnull', False), ('subject_kind', ''), ('subject_ref', '')), models.Q(('room__isnull', True), models.Q(('subject_kind', ''), _negated=True), models.Q(('subject_ref', ''), _negated=True)), _connector='OR'), name='legal_hold_room_or_record'), models.CheckConstraint(condition=models.Q(models.Q(('release_reason', ''), ('released_at__isnull', True), ('released_by__isnull', True)), models.Q(('released_at__isnull', False), models.Q(('release_reason', ''), _negated=True)), _connector='OR'), name='legal_hold_release_has_reason'), models.CheckConstraint(condition=models.Q(('reason', ''), _negated=True), name='legal_hold_has_reason')],
            },
        ),
        migrations.CreateModel(
            name='RetentionPolicy',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('room_kind', models.CharField(choices=[('partner', 'Partner room'), ('internal', 'Internal room')], max_length=20)),
                ('days', models.PositiveIntegerField(blank=True, null=True)),
                ('updated_at', models.DateTimeField()),
                ('tenant', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='tenancy.tenant')),
                ('updated_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('tenant', 'room_kind'), name='retention_policy_once_per_kind'), models.CheckConstraint(condition=models.Q(('days__isnull', True), models.Q(('days__gte', 1), ('days__lte', 36500)), _connector='OR'), name='retention_policy_days_range')],
            },
        ),
        migrations.RunSQL(TOMBSTONE_FUNCTION, DROP_TOMBSTONE_FUNCTION),
    ]
