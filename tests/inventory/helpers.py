import itertools
import time
from datetime import timedelta

from django.db import connections
from django.utils import timezone

from inventory import services
from inventory.models import SKU, Warehouse
from tests.api_contract import user

_ids = itertools.count(1)


def movement(sku="SKU-T1", warehouse="WH-T", delta=-1, external_id=None, occurred_at=None, reason="sale"):
    return {
        "external_id": external_id or f"m-{next(_ids)}",
        "sku": sku,
        "warehouse": warehouse,
        "delta": delta,
        "reason": reason,
        "occurred_at": (occurred_at or timezone.now() - timedelta(minutes=1)).isoformat(),
    }


def stock_world(demo, safety=500, reorder=800, step=None, max_level=None, opening=1000, supplier="sup-a"):
    """acme: a warehouse WH-T and SKU-T1 from `supplier`, with a rule and an opening stock."""
    tenant = demo["tenants"]["acme"]
    admin = user("acme.admin")
    warehouse = Warehouse.objects.filter(tenant=tenant, code="WH-T").first() or services.warehouse_create(
        tenant=tenant, actor=admin, code="WH-T", name="测试仓")
    sku = SKU.objects.filter(tenant=tenant, code="SKU-T1").first() or services.sku_create(
        tenant=tenant, actor=admin, code="SKU-T1", name="测试物料", default_supplier=demo["organizations"][supplier])
    rule = services.rule_upsert(tenant=tenant, actor=admin, sku=sku, warehouse=warehouse, safety_stock=safety,
                                reorder_point=reorder, step=step, max_level=max_level)
    if opening:
        ingest(tenant, [movement(delta=opening, reason="opening")])
    rule.refresh_from_db()
    return tenant, sku, warehouse, rule


def ingest(tenant, rows):
    return services.stock_movement_ingest(tenant=tenant, actor=user("acme.warehouse"), rows=rows)


def wait_until_a_backend_waits_for_a_lock(what, timeout=10):
    """Until a backend of this test database waits for a row lock (PostgreSQL); `what` names the waiter."""
    with connections["default"].cursor() as cursor:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            cursor.execute("SELECT pg_stat_clear_snapshot()")  # statistics views are read once per transaction
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                           "AND wait_event_type = 'Lock'")
            if cursor.fetchone()[0]:
                return
            time.sleep(0.02)
    raise AssertionError(f"{what} never waited for a lock")
