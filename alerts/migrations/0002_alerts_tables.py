"""The alert tables become the alerts app's: renamed in place (rows, ids, foreign keys and
constraints stay), their indexes renamed to the names Django gives them here, and the content
types of the four models relabelled, so permissions and guardian rows keep pointing at them.

Reversible: back to messaging's names and content types.
"""

from django.conf import settings
from django.db import migrations

MOVED = ("escalationpolicy", "alert", "alertevent", "notification")


def _grants(apps):
    """(through model, owner field) of the tables that grant a permission to a group or a user."""
    Group = apps.get_model("auth", "Group")
    User = apps.get_model(settings.AUTH_USER_MODEL)
    return [(Group.permissions.through, "group_id"), (User.user_permissions.through, "user_id")]


def _object_grants(apps):
    """guardian's generic per-object grants (their content type and permission point here)."""
    try:
        return [apps.get_model("guardian", "UserObjectPermission"), apps.get_model("guardian", "GroupObjectPermission")]
    except LookupError:  # guardian not installed
        return []


def _relabel(apps, schema_editor, source, target):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    db = schema_editor.connection.alias
    for model in MOVED:
        old = ContentType.objects.using(db).filter(app_label=source, model=model).first()
        if old is None:  # a database that never had it (content types are made after migrating)
            continue
        new = ContentType.objects.using(db).filter(app_label=target, model=model).first()
        if new is None:  # the usual case: the same row, relabelled
            old.app_label = target
            old.save(update_fields=["app_label"])
            continue
        # Both exist (a content type made for the target while the models were the source's):
        # everything pointing at the old row moves onto the new one, then the old row goes.
        for permission in Permission.objects.using(db).filter(content_type=old):
            twin = Permission.objects.using(db).filter(content_type=new, codename=permission.codename).first()
            if twin is None:
                permission.content_type = new
                permission.save(update_fields=["content_type"])
                continue
            for through, owner in _grants(apps):
                for grant in through.objects.using(db).filter(permission=permission):
                    if not through.objects.using(db).filter(permission=twin, **{owner: getattr(grant, owner)}).exists():
                        through.objects.using(db).create(permission=twin, **{owner: getattr(grant, owner)})
            for grants in _object_grants(apps):
                grants.objects.using(db).filter(permission=permission).update(permission=twin, content_type=new)
        for grants in _object_grants(apps):
            grants.objects.using(db).filter(content_type=old).update(content_type=new)
        old.delete()  # with the permissions that had a twin, and their grants (copied above)


def content_types_to_alerts(apps, schema_editor):
    _relabel(apps, schema_editor, "messaging", "alerts")


def content_types_to_messaging(apps, schema_editor):
    _relabel(apps, schema_editor, "alerts", "messaging")


class Migration(migrations.Migration):

    dependencies = [
        ('alerts', '0001_initial'),
        ('messaging', '0005_alerts_moved_out'),
        ('contenttypes', '0002_remove_content_type_name'),
        ('auth', '0001_initial'),
        ('guardian', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterModelTable(name='escalationpolicy', table=None),
        migrations.AlterModelTable(name='alert', table=None),
        migrations.AlterModelTable(name='alertevent', table=None),
        migrations.AlterModelTable(name='notification', table=None),
        migrations.RenameIndex(
            model_name='alert',
            new_name='alerts_aler_tenant__f59e5e_idx',
            old_name='messaging_a_tenant__0fa95b_idx',
        ),
        migrations.RenameIndex(
            model_name='alert',
            new_name='alerts_aler_tenant__9a39b1_idx',
            old_name='messaging_a_tenant__a06f6c_idx',
        ),
        migrations.RenameIndex(
            model_name='alert',
            new_name='alerts_aler_tenant__5baba6_idx',
            old_name='messaging_a_tenant__be348f_idx',
        ),
        migrations.RenameIndex(
            model_name='alertevent',
            new_name='alerts_aler_tenant__f84169_idx',
            old_name='messaging_a_tenant__0b6300_idx',
        ),
        migrations.RenameIndex(
            model_name='escalationpolicy',
            new_name='alerts_esca_tenant__694b8a_idx',
            old_name='messaging_e_tenant__ba6128_idx',
        ),
        migrations.RenameIndex(
            model_name='notification',
            new_name='alerts_noti_tenant__0d1937_idx',
            old_name='messaging_n_tenant__7bed94_idx',
        ),
        migrations.RunPython(content_types_to_alerts, content_types_to_messaging),
    ]
