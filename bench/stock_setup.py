"""Builds the stock benchmark's world in a migrated database holding the demo data (seed_demo),
and prints it as JSON. Run by bench/stock.py with DJANGO_SETTINGS_MODULE and DATABASE_URL set:

    python bench/stock_setup.py LATENCY_SKUS INGEST_SKUS NEAR_LINE

In tenant acme:

- LATENCY_SKUS SKUs `LAT-nnnnn` of supplier sup-a in WH-SH, each with a rule (safety stock 100,
  reorder point 200) and 150 on hand. One movement of -100 takes a SKU to 50: below its safety
  stock, a fresh low-stock alert for sup-a's reps and the warehouse role. Built through the
  services (sku_create, rule_upsert, stock_movement_ingest), as a tenant would build them.
- INGEST_SKUS SKUs `ING-nnnnn` (suppliers sup-a / sup-b, warehouses WH-SH / WH-SZ alternating),
  each with a rule (safety 100, reorder 200) and a stock level, built with set-based SQL. The
  first NEAR_LINE stand at 101 (a movement of -2 crosses the safety line and raises an alert);
  the rest stand at 10^8 (small movements never cross a line).
"""

import datetime
import json
import os
import sys

sys.path.insert(0, os.getcwd())  # the portal measured: run from its checkout (stock --server-root)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scm_portal.settings.base")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from inventory import services  # noqa: E402
from inventory.models import Warehouse  # noqa: E402
from scm_portal.tenancy.models import Organization, Tenant  # noqa: E402

TENANT = "acme"
LAT_SAFETY, LAT_REORDER, LAT_OPENING = 100, 200, 150
ING_SAFETY, ING_REORDER, ING_NEAR, ING_FAR = 100, 200, 101, 100_000_000


def build(latency_skus, ingest_skus, near_line):
    tenant = Tenant.objects.get(slug=TENANT)
    sup_a, sup_b = Organization.objects.get(slug="sup-a"), Organization.objects.get(slug="sup-b")
    wh = {w.code: w for w in Warehouse.objects.for_tenant(tenant).filter(code__in=["WH-SH", "WH-SZ"])}
    now = timezone.now()

    with transaction.atomic():
        lat_codes = [f"LAT-{i:05d}" for i in range(latency_skus)]
        for code in lat_codes:
            sku = services.sku_create(tenant=tenant, actor=None, code=code, name=f"螺丝 {code}", default_supplier=sup_a)
            services.rule_upsert(tenant=tenant, actor=None, sku=sku, warehouse=wh["WH-SH"], safety_stock=LAT_SAFETY,
                                 reorder_point=LAT_REORDER, max_level=1000)
        services.stock_movement_ingest(
            tenant=tenant, actor=None, source="demo",
            rows=[{"external_id": f"lat-open-{code}", "sku": code, "warehouse": "WH-SH", "delta": LAT_OPENING,
                   "reason": "期初库存", "occurred_at": (now - datetime.timedelta(days=1)).isoformat()} for code in lat_codes],
        )

    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(
            """INSERT INTO inventory_sku (tenant_id, code, name, unit, created_at, default_supplier_id)
               SELECT %s, 'ING-' || lpad(g::text, 5, '0'), 'Ingest SKU ' || g, 'pcs', now(),
                      CASE WHEN g %% 2 = 0 THEN %s ELSE %s END
               FROM generate_series(0, %s - 1) g""",
            [tenant.id, sup_a.id, sup_b.id, ingest_skus],
        )
        cur.execute(
            """INSERT INTO inventory_replenishmentrule (tenant_id, sku_id, warehouse_id, safety_stock, reorder_point,
                      max_level, velocity_window_hours, lead_time_days, active, updated_at)
               SELECT s.tenant_id, s.id, CASE WHEN substr(s.code, 5)::int %% 2 = 0 THEN %s ELSE %s END, %s, %s,
                      NULL, 1, 7, true, now()
               FROM inventory_sku s WHERE s.tenant_id = %s AND s.code LIKE 'ING-%%'""",
            [wh["WH-SH"].id, wh["WH-SZ"].id, ING_SAFETY, ING_REORDER, tenant.id],
        )
        cur.execute(
            """INSERT INTO inventory_stocklevel (tenant_id, sku_id, warehouse_id, on_hand, rule_safety_stock, updated_at)
               SELECT r.tenant_id, r.sku_id, r.warehouse_id,
                      CASE WHEN substr(s.code, 5)::int < %s THEN %s ELSE %s END, r.safety_stock, now()
               FROM inventory_replenishmentrule r JOIN inventory_sku s ON s.id = r.sku_id
               WHERE r.tenant_id = %s AND s.code LIKE 'ING-%%'""",
            [near_line, ING_NEAR, ING_FAR, tenant.id],
        )
        cur.execute(
            "SELECT s.code, s.id, r.warehouse_id FROM inventory_sku s JOIN inventory_replenishmentrule r ON r.sku_id = s.id "
            "WHERE s.tenant_id = %s AND s.code LIKE 'ING-%%' ORDER BY s.code",
            [tenant.id],
        )
        rows = cur.fetchall()
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    wh_code = {w.id: code for code, w in wh.items()}
    return {
        "tenant": TENANT,
        "tenant_id": tenant.id,
        "latency": {"skus": lat_codes, "warehouse": "WH-SH", "opening": LAT_OPENING, "safety": LAT_SAFETY},
        "ingest": {
            "codes": [r[0] for r in rows],
            "sku_ids": [r[1] for r in rows],
            "warehouses": [wh_code[r[2]] for r in rows],
            "warehouse_ids": [r[2] for r in rows],
            "near_line": near_line,
            "safety": ING_SAFETY,
            "near_level": ING_NEAR,
        },
    }


if __name__ == "__main__":
    print(json.dumps(build(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))))
