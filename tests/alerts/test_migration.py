"""A database from before the alerts app upgrades with every alert, policy, event and notice kept.

The test migrates this database back to where the alert models were messaging's (messaging
0004, alerts unapplied), writes rows there through the historical models, migrates forward and
finds them under the alerts app's models and tables, with their ids, links, constraints and
content types (permissions and guardian grants keep pointing at the same models).
"""

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone
from guardian.models import UserObjectPermission

from alerts.models import Alert, AlertEvent, EscalationPolicy, Notification
from tests.api_contract import user

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("messaging", "0004_alerts"), ("alerts", None)]


def migrate(targets):
    """Migrates to `targets` (None: the latest of every app); returns the apps of that state."""
    executor = MigrationExecutor(connection)
    targets = targets or executor.loader.graph.leaf_nodes()
    executor.migrate(targets)
    executor.loader.build_graph()
    ContentType.objects.clear_cache()
    return executor.loader.project_state([t for t in targets if t[1] is not None]).apps


@pytest.fixture
def migrated_back(demo_tx):
    """The database as it was before the alerts app; migrated forward again whatever happens."""
    try:
        yield demo_tx, migrate(BEFORE)
    finally:
        migrate(None)


def object_grant(permission):
    """A guardian per-object grant of `permission` (its save() would look the object up)."""
    grant = UserObjectPermission(user=user("acme.buyer"), permission=permission,
                                 content_type_id=permission.content_type_id, object_pk="1")
    UserObjectPermission.objects.bulk_create([grant])
    return UserObjectPermission.objects.get(user=grant.user, permission=permission, object_pk="1")


def tables():
    return set(connection.introspection.table_names())


def old_rows(apps, demo):
    """An alert with its policy, event and notification, written on messaging's tables."""
    acme = demo["tenants"]["acme"]
    Policy, OldAlert = apps.get_model("messaging", "EscalationPolicy"), apps.get_model("messaging", "Alert")
    OldEvent, OldNotification = apps.get_model("messaging", "AlertEvent"), apps.get_model("messaging", "Notification")
    now = timezone.now()
    policy = Policy.objects.create(tenant_id=acme.pk, name="old policy", kind="", min_severity=20,
                                   levels=[{"after_seconds": 300, "roles": ["planner"]}])
    alert = OldAlert.objects.create(
        tenant_id=acme.pk, kind="low_stock", severity=30, state="acknowledged", level=1, dedupe_key="low_stock:7",
        title="SKU-1001 低于安全库存", subject_kind="sku", subject_ref="SKU-1001",
        partner_id=demo["organizations"]["sup-a"].pk, core_audience=",warehouse,", payload={"rule": 7},
        cards=[{"room": 1, "seq": 3}], policy_id=policy.pk, opened_at=now,
        acknowledged_at=now, acknowledged_by_id=user("acme.warehouse").pk,
    )
    OldEvent.objects.create(tenant_id=acme.pk, alert_id=alert.pk, action="raised", at=now)
    OldNotification.objects.create(tenant_id=acme.pk, user_id=user("acme.warehouse").pk, alert_id=alert.pk,
                                   kind="alert", level=0, text="SKU-1001 低于安全库存")
    return policy.pk, alert.pk


def test_existing_alert_rows_survive_the_move(migrated_back):
    demo, apps = migrated_back
    # Given a database from before the alerts app, with an alert, its policy, event and notice
    assert {"messaging_alert", "messaging_escalationpolicy"} <= tables() and "alerts_alert" not in tables()
    policy_id, alert_id = old_rows(apps, demo)

    # When it migrates forward
    migrate(None)

    # Then the rows are the alerts app's, on its tables, with their ids and links
    assert {"alerts_alert", "alerts_escalationpolicy", "alerts_alertevent", "alerts_notification"} <= tables()
    assert not {"messaging_alert", "messaging_escalationpolicy", "messaging_alertevent", "messaging_notification"} & tables()
    alert = Alert.objects.select_related("policy", "partner", "acknowledged_by").get(pk=alert_id)
    assert (alert.kind, alert.state, alert.level, alert.severity) == ("low_stock", "acknowledged", 1, 30)
    assert alert.policy == EscalationPolicy.objects.get(pk=policy_id) and alert.policy.levels[0]["after_seconds"] == 300
    assert alert.partner.slug == "sup-a" and alert.acknowledged_by.username == "acme.warehouse"
    assert alert.cards == [{"room": 1, "seq": 3}] and alert.payload == {"rule": 7}
    assert [e.action for e in AlertEvent.objects.filter(alert=alert)] == ["raised"]
    assert Notification.objects.get(alert=alert).user.username == "acme.warehouse"
    # and the indexes carry the alerts app's names, the constraints hold, new ids follow the old
    with connection.cursor() as cursor:
        names = set(connection.introspection.get_constraints(cursor, "alerts_alert"))
    assert {"alerts_aler_tenant__f59e5e_idx", "alert_due_open", "alert_one_unresolved_per_key"} <= names
    fresh = Alert.objects.create(tenant=alert.tenant, kind="low_stock", dedupe_key="low_stock:8", title="t",
                                 opened_at=timezone.now())
    assert fresh.pk > alert.pk
    with pytest.raises(IntegrityError), transaction.atomic():
        Alert.objects.create(tenant=alert.tenant, kind="low_stock", dedupe_key="low_stock:7", title="again",
                             opened_at=timezone.now())


def test_the_rows_go_back_with_a_reverse_migration(demo_tx):
    # Given an alert on the alerts app's tables
    acme = demo_tx["tenants"]["acme"]
    policy = EscalationPolicy.objects.create(tenant=acme, name="p", levels=[{"after_seconds": 60, "roles": ["planner"]}])
    alert = Alert.objects.create(tenant=acme, kind="low_stock", dedupe_key="k", title="t", policy=policy,
                                 opened_at=timezone.now())
    try:
        # When the alerts app is migrated away
        apps = migrate(BEFORE)
        # Then messaging's models find the same rows on messaging's tables
        assert apps.get_model("messaging", "Alert").objects.get(pk=alert.pk).policy_id == policy.pk
        assert ContentType.objects.filter(app_label="messaging", model="alert").exists()
        assert not ContentType.objects.filter(app_label="alerts", model="alert").exists()
    finally:
        migrate(None)
    assert Alert.objects.get(pk=alert.pk).policy == policy


def test_permissions_and_guardian_grants_keep_pointing_at_the_models(migrated_back):
    demo, apps = migrated_back
    old_type = ContentType.objects.get(app_label="messaging", model="alert")
    old_view = Permission.objects.get(content_type=old_type, codename="view_alert")
    planners = Group.objects.create(name="alert-readers")
    planners.permissions.add(old_view)
    user("acme.planner").user_permissions.add(Permission.objects.get(content_type=old_type, codename="change_alert"))
    grant = object_grant(old_view)
    policy_type = ContentType.objects.get(app_label="messaging", model="escalationpolicy")

    migrate(None)

    # The same content type rows, relabelled: what pointed at them points at the alerts models.
    assert ContentType.objects.get_for_model(Alert).pk == old_type.pk
    assert ContentType.objects.get_for_model(EscalationPolicy).pk == policy_type.pk
    assert not ContentType.objects.filter(app_label="messaging", model__in=["alert", "escalationpolicy"]).exists()
    assert user("acme.planner").has_perm("alerts.change_alert")
    assert Group.objects.get(name="alert-readers").permissions.get().content_type.app_label == "alerts"
    grant.refresh_from_db()
    assert grant.content_type_id == old_type.pk and grant.permission_id == old_view.pk


def test_a_content_type_made_for_alerts_meanwhile_takes_the_old_ones_grants(migrated_back):
    """Both rows exist when the alerts models got a content type while still messaging's (a
    `migrate` of another branch, say): the old row's grants move to the new one, the old row goes."""
    demo, apps = migrated_back
    old_type = ContentType.objects.get(app_label="messaging", model="alert")
    old_view = Permission.objects.get(content_type=old_type, codename="view_alert")
    new_type = ContentType.objects.create(app_label="alerts", model="alert")
    twin = Permission.objects.create(content_type=new_type, codename="view_alert", name="Can view alert")
    readers = Group.objects.create(name="alert-readers")
    readers.permissions.add(old_view)
    user("acme.planner").user_permissions.add(old_view, Permission.objects.get(content_type=old_type, codename="change_alert"))
    grant = object_grant(old_view)

    migrate(None)

    assert not ContentType.objects.filter(pk=old_type.pk).exists()
    assert ContentType.objects.get_for_model(Alert).pk == new_type.pk
    assert list(Group.objects.get(name="alert-readers").permissions.all()) == [twin]
    planner = user("acme.planner")
    assert planner.has_perm("alerts.view_alert") and planner.has_perm("alerts.change_alert")
    assert set(Permission.objects.filter(content_type=new_type).values_list("codename", flat=True)) == {
        "add_alert", "change_alert", "delete_alert", "view_alert"}
    grant.refresh_from_db()
    assert (grant.content_type_id, grant.permission_id) == (new_type.pk, twin.pk)
