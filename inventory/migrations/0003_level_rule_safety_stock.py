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
# creating the rule's level apart (inventory/services/movements.py, _ids_by_codes).
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

BELOW_SAFETY_STATISTICS_CREATE = [
    f"CREATE STATISTICS {BELOW_SAFETY_STATISTICS} ON ((on_hand < rule_safety_stock)) FROM inventory_stocklevel",
    "ANALYZE inventory_stocklevel",
]
BELOW_SAFETY_STATISTICS_DROP = [f"DROP STATISTICS IF EXISTS {BELOW_SAFETY_STATISTICS}"]


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
        migrations.RunSQL([PG_TRIGGER], [PG_TRIGGER_DROP], elidable=False),  # each sent whole, as written
        migrations.RunPython(fill_rule_safety_stock, migrations.RunPython.noop, elidable=False),
        migrations.RunSQL(BELOW_SAFETY_STATISTICS_CREATE, BELOW_SAFETY_STATISTICS_DROP, elidable=False),
        migrations.AddIndex(
            model_name="replenishmentrule",
            index=models.Index(
                condition=models.Q(("velocity_factor__isnull", False)), fields=["tenant"], name="rule_velocity_tenant"
            ),
        ),
    ]
