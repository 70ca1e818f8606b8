from django.db import migrations, models
from django.db.models import Exists, OuterRef, Subquery

# Lets the planner know how few levels are below safety: a comparison of two columns is otherwise
# guessed at a third of the rows, which turns the sweep's join with the rules into a hash join over
# all of them (and its cost estimate into JIT compilation). The sweep asks for it with `IS TRUE`,
# the form whose estimate reads this statistic.
BELOW_SAFETY_STATISTICS = "inventory_stocklevel_below_safety"


def fill_rule_safety_stock(apps, schema_editor):
    StockLevel = apps.get_model("inventory", "StockLevel")
    ReplenishmentRule = apps.get_model("inventory", "ReplenishmentRule")
    rule = ReplenishmentRule.objects.filter(
        tenant_id=OuterRef("tenant_id"), sku_id=OuterRef("sku_id"), warehouse_id=OuterRef("warehouse_id"), active=True)
    StockLevel.objects.filter(Exists(rule)).update(rule_safety_stock=Subquery(rule.values("safety_stock")[:1]))


# Every write of a rule, through the services or not, keeps the copy of its safety stock on its
# level (None when inactive or deleted). Only these columns: the movement batches' own rule
# writes (step_reference) stay trigger-free. The SKU row lock keeps a rule write and a movement batch
# creating the rule's level apart (inventory/services.py, _ids_by_codes); on SQLite, which remakes a
# table for some schema changes, a migration that remakes the rules table must create these again.
PG_TRIGGER = """
CREATE FUNCTION inventory_rule_copy_safety() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND (OLD.tenant_id, OLD.sku_id, OLD.warehouse_id)
                            IS DISTINCT FROM (NEW.tenant_id, NEW.sku_id, NEW.warehouse_id)) THEN
        UPDATE inventory_stocklevel SET rule_safety_stock = NULL
        WHERE tenant_id = OLD.tenant_id AND sku_id = OLD.sku_id AND warehouse_id = OLD.warehouse_id
          AND rule_safety_stock IS NOT NULL;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM 1 FROM inventory_sku WHERE id = NEW.sku_id FOR UPDATE;
        UPDATE inventory_stocklevel SET rule_safety_stock = CASE WHEN NEW.active THEN NEW.safety_stock END
        WHERE tenant_id = NEW.tenant_id AND sku_id = NEW.sku_id AND warehouse_id = NEW.warehouse_id
          AND rule_safety_stock IS DISTINCT FROM CASE WHEN NEW.active THEN NEW.safety_stock END;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER inventory_rule_copy_safety
    AFTER INSERT OR DELETE OR UPDATE OF tenant_id, sku_id, warehouse_id, safety_stock, active
    ON inventory_replenishmentrule FOR EACH ROW EXECUTE FUNCTION inventory_rule_copy_safety();
"""
PG_TRIGGER_DROP = """
DROP TRIGGER IF EXISTS inventory_rule_copy_safety ON inventory_replenishmentrule;
DROP FUNCTION IF EXISTS inventory_rule_copy_safety();
"""

# SQLite (the embedded default) runs one writer at a time: no lock needed.
_SQLITE_CLEAR_OLD = """UPDATE inventory_stocklevel SET rule_safety_stock = NULL
        WHERE tenant_id = OLD.tenant_id AND sku_id = OLD.sku_id AND warehouse_id = OLD.warehouse_id;"""
_SQLITE_SET_NEW = """UPDATE inventory_stocklevel SET rule_safety_stock = CASE WHEN NEW.active THEN NEW.safety_stock END
        WHERE tenant_id = NEW.tenant_id AND sku_id = NEW.sku_id AND warehouse_id = NEW.warehouse_id;"""
SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER inventory_rule_copy_safety_insert AFTER INSERT ON inventory_replenishmentrule
        BEGIN {_SQLITE_SET_NEW} END""",
    f"""CREATE TRIGGER inventory_rule_copy_safety_update
        AFTER UPDATE OF tenant_id, sku_id, warehouse_id, safety_stock, active ON inventory_replenishmentrule
        BEGIN {_SQLITE_CLEAR_OLD} {_SQLITE_SET_NEW} END""",
    f"""CREATE TRIGGER inventory_rule_copy_safety_delete AFTER DELETE ON inventory_replenishmentrule
        BEGIN {_SQLITE_CLEAR_OLD} END""",
]
SQLITE_TRIGGERS_DROP = [
    f"DROP TRIGGER IF EXISTS inventory_rule_copy_safety_{op}" for op in ("insert", "update", "delete")
]


def rule_copy_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_TRIGGER)
    elif vendor == "sqlite":
        for statement in SQLITE_TRIGGERS:
            schema_editor.execute(statement)
    else:
        raise NotImplementedError(f"inventory: no rule copy trigger for {vendor}")


def rule_copy_triggers_drop(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    statements = {"postgresql": [PG_TRIGGER_DROP], "sqlite": SQLITE_TRIGGERS_DROP}.get(vendor, [])
    for statement in statements:
        schema_editor.execute(statement)


def below_safety_statistics(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE STATISTICS {BELOW_SAFETY_STATISTICS} ON ((on_hand < rule_safety_stock)) FROM inventory_stocklevel")
        schema_editor.execute("ANALYZE inventory_stocklevel")


def below_safety_statistics_drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP STATISTICS IF EXISTS {BELOW_SAFETY_STATISTICS}")


class Migration(migrations.Migration):

    dependencies = [
        ("inventory", "0002_movement_write_cost"),
    ]

    operations = [
        migrations.AddField(
            model_name="stocklevel",
            name="rule_safety_stock",
            field=models.BigIntegerField(blank=True, editable=False, null=True),
        ),
        migrations.RunPython(rule_copy_triggers, rule_copy_triggers_drop, elidable=False),
        migrations.RunPython(fill_rule_safety_stock, migrations.RunPython.noop, elidable=False),
        migrations.RunPython(below_safety_statistics, below_safety_statistics_drop, elidable=False),
        migrations.AddIndex(
            model_name="replenishmentrule",
            index=models.Index(
                condition=models.Q(("velocity_factor__isnull", False)), fields=["tenant"], name="rule_velocity_tenant"
            ),
        ),
    ]
