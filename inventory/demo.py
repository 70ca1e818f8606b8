"""Demo stock for acme (and a little for globex): the 缺货 story.

SKU-1001 (M6 不锈钢螺丝, from sup-a) sells steadily for two weeks, then a sales peak drains
it below safety stock: sup-a's rep and acme's warehouse, buyer and planner get the alert, with
"安排补货".
Idempotent: warehouses, SKUs and rules are looked up first; movements are idempotent on
their external ids, so a second run applies nothing.
"""

from datetime import timedelta

from django.utils import timezone

from alerts.models import EscalationPolicy
from inventory import services
from inventory.models import SKU, ReplenishmentRule, Warehouse

WAREHOUSES = {"acme": [("WH-SH", "上海中心仓"), ("WH-SZ", "深圳仓")], "globex": [("GX-BJ", "北京仓")]}
SKUS = {
    "acme": [
        ("SKU-1001", "M6 不锈钢螺丝", "pcs", "sup-a"),
        ("SKU-1002", "M8 螺母", "pcs", "sup-a"),
        ("SKU-2001", "瓦楞纸箱 40×30×20", "pcs", "sup-b"),
        ("SKU-2002", "防静电包装袋", "pcs", "sup-b"),
    ],
    "globex": [("GX-5001", "USB-C 连接器", "pcs", "sup-a")],
}
# sku, warehouse, safety, reorder, max, step, velocity factor
RULES = {
    "acme": [
        ("SKU-1001", "WH-SH", 500, 800, 3000, 300, "3.00"),
        ("SKU-1002", "WH-SH", 300, 500, 2000, None, None),
        ("SKU-2001", "WH-SZ", 200, 350, 1500, None, None),
        ("SKU-2002", "WH-SZ", 100, 200, 800, None, None),
    ],
    "globex": [("GX-5001", "GX-BJ", 50, 80, 400, None, None)],
}


def _stream(tenant_slug, now):
    """(external_id, sku, warehouse, delta, reason, occurred_at) telling each SKU's fortnight."""
    rows = []
    if tenant_slug == "acme":
        rows.append(("demo-1001-open", "SKU-1001", "WH-SH", 2600, "期初库存", now - timedelta(days=15)))
        for day in range(14, 0, -1):
            rows.append((f"demo-1001-d{day}", "SKU-1001", "WH-SH", -110, "销售出库", now - timedelta(days=day)))
        rows.append(("demo-1001-restock", "SKU-1001", "WH-SH", 600, "采购入库", now - timedelta(days=6, hours=3)))
        for hour, qty in enumerate([380, 340, 300, 240]):  # the sales peak, today: 1,660 → 400
            rows.append((f"demo-1001-peak{hour}", "SKU-1001", "WH-SH", -qty, "大促出库", now - timedelta(hours=4 - hour)))
        for code, warehouse, opening, daily in [("SKU-1002", "WH-SH", 1500, 40), ("SKU-2001", "WH-SZ", 900, 30),
                                                ("SKU-2002", "WH-SZ", 500, 10)]:
            rows.append((f"demo-{code}-open", code, warehouse, opening, "期初库存", now - timedelta(days=15)))
            for day in range(14, 0, -1):
                rows.append((f"demo-{code}-d{day}", code, warehouse, -daily, "销售出库", now - timedelta(days=day)))
    else:
        rows.append(("demo-gx-open", "GX-5001", "GX-BJ", 300, "期初库存", now - timedelta(days=10)))
        for day in range(9, 0, -1):
            rows.append((f"demo-gx-d{day}", "GX-5001", "GX-BJ", -12, "销售出库", now - timedelta(days=day)))
    return rows


def seed(ctx):
    now = timezone.now()
    orgs = ctx["organizations"]
    for slug, tenant in ctx["tenants"].items():
        admin = ctx["users"].get(f"{slug}.admin") or ctx["users"][f"{slug}.buyer"]
        warehouses = {}
        for code, name in WAREHOUSES[slug]:
            warehouses[code] = Warehouse.objects.for_tenant(tenant).filter(code=code).first() or services.warehouse_create(
                tenant=tenant, actor=admin, code=code, name=name)
        skus = {}
        for code, name, unit, supplier in SKUS[slug]:
            skus[code] = SKU.objects.for_tenant(tenant).filter(code=code).first() or services.sku_create(
                tenant=tenant, actor=admin, code=code, name=name, unit=unit, default_supplier=orgs[supplier])
        for code, wh, safety, reorder, max_level, step, velocity in RULES[slug]:
            if not ReplenishmentRule.objects.for_tenant(tenant).filter(sku=skus[code], warehouse=warehouses[wh]).exists():
                services.rule_upsert(tenant=tenant, actor=admin, sku=skus[code], warehouse=warehouses[wh], safety_stock=safety,
                                     reorder_point=reorder, max_level=max_level, step=step, velocity_factor=velocity)
        if not EscalationPolicy.objects.for_tenant(tenant).exists():
            EscalationPolicy.objects.create(
                tenant=tenant, name="库存预警升级 / Stock alerts", kind="", min_severity=20,
                levels=[{"after_seconds": 300, "roles": ["planner"], "users": [], "channels": ["in_app"]},
                        {"after_seconds": 900, "roles": ["coordinator", "tenant_admin"], "users": [], "channels": ["in_app"]}],
            )
        rows = [
            {"external_id": e, "sku": s, "warehouse": w, "delta": d, "reason": r, "occurred_at": t.isoformat()}
            for e, s, w, d, r, t in sorted(_stream(slug, now), key=lambda row: row[5])
        ]
        # The history in one batch, then today's peak movement by movement, as the ERP would send it.
        history = [r for r in rows if "peak" not in r["external_id"]]
        services.stock_movement_ingest(tenant=tenant, actor=admin, rows=history, source="demo")
        for row in rows[len(history):]:
            services.stock_movement_ingest(tenant=tenant, actor=admin, rows=[row], source="demo")
