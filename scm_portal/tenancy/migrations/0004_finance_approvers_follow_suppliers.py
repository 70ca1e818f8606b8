"""Finance approvers follow every supplier partner (FOLLOWERS_BY_KIND gained them): each tenant's
finance-approver role group is granted `tenancy.follow_partnership` on each of its existing
supplier partnerships, as partnership_create grants it to new ones. Reversing takes exactly those
group grants away again (a user's own follow, partnership_follow, is a user grant and stays).

The names are written out here rather than imported: a migration keeps meaning what it meant
when it was written (scm_portal.tenancy.roles.role_group_name: "tenant:<id>:<role>").
"""

from django.db import migrations

ROLE = "finance_approver"
KIND = "supplier"
CODENAME = "follow_partnership"


def _group_name(tenant_id):
    return f"tenant:{tenant_id}:{ROLE}"


def _permission(apps):
    """The follow permission, created when this database has not had it made yet (post_migrate makes
    permissions only after a migrate run; a database with partnerships has normally had one)."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    content_type, _created = ContentType.objects.get_or_create(app_label="tenancy", model="partnership")
    permission, _created = Permission.objects.get_or_create(
        content_type=content_type, codename=CODENAME, defaults={"name": "Follows this partner"})
    return permission


def grant(apps, schema_editor):
    Partnership = apps.get_model("tenancy", "Partnership")
    Group = apps.get_model("auth", "Group")
    Grant = apps.get_model("tenancy", "PartnershipGroupObjectPermission")
    partnerships = list(Partnership.objects.filter(kind=KIND).values_list("pk", "tenant_id").order_by("pk"))
    if not partnerships:
        return
    permission = _permission(apps)
    groups = {}
    for tenant_id in sorted({tenant_id for _pk, tenant_id in partnerships}):
        groups[tenant_id], _created = Group.objects.get_or_create(name=_group_name(tenant_id))
    Grant.objects.bulk_create(
        [Grant(group=groups[tenant_id], permission=permission, content_object_id=pk) for pk, tenant_id in partnerships],
        ignore_conflicts=True, batch_size=1000,
    )


def revoke(apps, schema_editor):
    Partnership = apps.get_model("tenancy", "Partnership")
    Grant = apps.get_model("tenancy", "PartnershipGroupObjectPermission")
    for pk, tenant_id in Partnership.objects.filter(kind=KIND).values_list("pk", "tenant_id").order_by("pk").iterator():
        Grant.objects.filter(content_object_id=pk, permission__codename=CODENAME,
                             group__name=_group_name(tenant_id)).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("tenancy", "0003_user_preferences"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(grant, revoke),
    ]
