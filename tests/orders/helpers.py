"""Purchase-order test helpers: a small world (warehouses and SKUs of acme and globex) and the
services called as a user of the demo data, with their tenant context read as a request would."""

import copy

from inventory.models import SKU, Warehouse
from inventory.services import sku_create, warehouse_create
from orders.models import PurchaseOrder
from orders.services import purchase_orders as services
from scm_portal.tenancy.access import tenant_context_for
from scm_portal.tenancy.models import Tenant
from tests.api_contract import user

BASE = "/api/v1/t/{tenant}/purchase-orders/"

PO_BODY = {
    "number": "PO-20231026",
    "supplier": "sup-a",
    "warehouse": "WH-SH",
    "currency": "CNY",
    "lines": [
        {"sku": "SKU-1001", "quantity": 100, "unit_price": "12.50", "requested_date": "2026-12-20"},
        {"sku": "SKU-1002", "quantity": 40, "unit_price": "3.2000", "requested_date": "2026-12-22"},
    ],
}


def body(**changes):
    data = copy.deepcopy(PO_BODY)
    data.update(changes)
    return data


def make_catalogue(demo):
    """WH-SH and SKU-1001/1002 in acme, GX-BJ and GX-5001 in globex (idempotent)."""
    admin = user("acme.admin")
    acme, globex = demo["tenants"]["acme"], demo["tenants"]["globex"]
    if not Warehouse.objects.filter(tenant=acme, code="WH-SH").exists():
        warehouse_create(tenant=acme, actor=admin, code="WH-SH", name="上海中心仓")
        for code in ("SKU-1001", "SKU-1002"):
            sku_create(tenant=acme, actor=admin, code=code, name=code)
    if not Warehouse.objects.filter(tenant=globex, code="GX-BJ").exists():
        warehouse_create(tenant=globex, actor=user("globex.buyer"), code="GX-BJ", name="北京仓")
        sku_create(tenant=globex, actor=user("globex.buyer"), code="GX-5001", name="USB-C")
    return demo


def ctx(username, tenant="acme"):
    actor = user(username)
    tenant = Tenant.objects.get(slug=tenant)
    return {"tenant": tenant, "actor": actor, "context": tenant_context_for(actor, tenant)}


def create(username="acme.buyer", tenant="acme", **changes):
    return services.purchase_order_create(**ctx(username, tenant), data=body(**changes))


def move(service, order, username, tenant="acme", **kwargs):
    return getattr(services, f"purchase_order_{service}")(**ctx(username, tenant), order=order, **kwargs)


def po(number="PO-20231026", tenant="acme"):
    return PurchaseOrder.objects.get(tenant__slug=tenant, number=number)


def snapshot(order):
    """What a refused request must leave as it was: the PO, its lines, changes and history."""
    order = PurchaseOrder.objects.get(pk=order.pk)
    return (order.state, order.version, order.confirm_due_at,
            list(order.lines.order_by("line").values_list("line", "quantity", "unit_price", "promised_date", "status")),
            list(order.changes.order_by("pk").values_list("line_id", "answer", "state")),
            order.events.count())


def sku_id(code, tenant="acme"):
    return SKU.objects.get(tenant__slug=tenant, code=code).pk
