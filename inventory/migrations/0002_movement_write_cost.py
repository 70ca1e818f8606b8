import django.db.models.deletion
from django.db import migrations, models

LEVELS_FILLFACTOR = 70


# Room on each page for the next version of a level: a batch's upsert then updates in place
# (HOT, no new entry in any of the table's five indexes) instead of moving the row. Pages
# written before this keep no room until the table is rewritten (VACUUM FULL, pg_repack).
LEVELS_FILLFACTOR_SET = f"ALTER TABLE inventory_stocklevel SET (fillfactor = {LEVELS_FILLFACTOR})"
LEVELS_FILLFACTOR_RESET = "ALTER TABLE inventory_stocklevel RESET (fillfactor)"


class Migration(migrations.Migration):

    dependencies = [
        ("inventory", "0001_initial"),
        ("tenancy", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="stockmovement",
            name="tenant",
            field=models.ForeignKey(
                db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="+", to="tenancy.tenant"
            ),
        ),
        migrations.RunSQL([LEVELS_FILLFACTOR_SET], [LEVELS_FILLFACTOR_RESET], elidable=False),
    ]
