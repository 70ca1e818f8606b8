import django.db.models.deletion
from django.db import migrations, models

LEVELS_FILLFACTOR = 70


def levels_fillfactor(apps, schema_editor):
    # Room on each page for the next version of a level: a batch's upsert then updates in place
    # (HOT, no new entry in any of the table's five indexes) instead of moving the row. Pages
    # written before this keep no room until the table is rewritten (VACUUM FULL, pg_repack).
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE inventory_stocklevel SET (fillfactor = {LEVELS_FILLFACTOR})")


def levels_fillfactor_reset(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE inventory_stocklevel RESET (fillfactor)")


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
        migrations.RunPython(levels_fillfactor, levels_fillfactor_reset, elidable=False),
    ]
