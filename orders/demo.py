"""Demo purchase orders: one in each state for acme with sup-a and sup-b, and one for globex.

The stories: PO-20231026 (sup-a) is confirmed and ready to ship; PO-20231101 waits for sup-a's
confirmation in its portal; PO-20231102 has sup-a's proposal of a later date for the buyer to
decide; PO-20231104 waits for sup-b (the `po_unconfirmed` sweep raises its alert if sup-b stays
silent past acme's time).
Shipped and received POs come from the logistics demo, which ships and receives confirmed ones
(PO-20231015, PO-20231020). Everything goes through the services, so history and cards are real.
Idempotent: a PO whose number exists is left as it is.
"""

from datetime import date, timedelta

from django.utils import timezone

from orders.models import PurchaseOrder
from orders.services import purchase_orders as services
from scm_portal.tenancy.access import tenant_context_for

ACME = "acme"
# number, supplier, warehouse, [(sku, quantity, unit price, days from today)], the moves after creation
POS = {
    "acme": [
        ("PO-20231026", "sup-a", "WH-SH", [("SKU-1001", 2000, "0.35", 10), ("SKU-1002", 1500, "0.12", 10)], ["send", "confirm"]),
        ("PO-20231101", "sup-a", "WH-SH", [("SKU-1001", 3000, "0.35", 14)], ["send"]),
        ("PO-20231102", "sup-a", "WH-SH", [("SKU-1002", 800, "0.12", 7), ("SKU-1001", 500, "0.35", 7)],
         ["send", "propose_date"]),
        ("PO-20231103", "sup-b", "WH-SZ", [("SKU-2001", 600, "2.80", 20)], []),
        ("PO-20231104", "sup-b", "WH-SZ", [("SKU-2002", 1000, "0.45", 5)], ["send"]),
        ("PO-20231020", "sup-b", "WH-SZ", [("SKU-2001", 400, "2.80", 3), ("SKU-2002", 300, "0.45", 3)], ["send", "confirm"]),
        ("PO-20231015", "sup-a", "WH-SH", [("SKU-1002", 1200, "0.12", 2)], ["send", "confirm"]),
        ("PO-20231001", "sup-a", "WH-SH", [("SKU-1001", 100, "0.36", 1)], ["send", "cancel"]),
    ],
    "globex": [
        ("GX-PO-0001", "sup-a", "GX-BJ", [("GX-5001", 200, "1.85", 12)], ["send"]),
    ],
}


def _ctx(user, tenant):
    return {"tenant": tenant, "actor": user, "context": tenant_context_for(user, tenant)}


def seed(ctx):
    from inventory import demo as inventory_demo

    inventory_demo.seed(ctx)  # the warehouses and SKUs the POs name (idempotent; orders comes first)
    today = timezone.localdate()
    for slug, orders in POS.items():
        tenant = ctx["tenants"][slug]
        buyer = ctx["users"][f"{slug}.buyer"]
        for number, supplier, warehouse, lines, moves in orders:
            if PurchaseOrder.objects.for_tenant(tenant).filter(number=number).exists():
                continue
            data = {"number": number, "supplier": supplier, "warehouse": warehouse, "currency": "CNY", "lines": [
                {"sku": sku, "quantity": quantity, "unit_price": price,
                 "requested_date": (today + timedelta(days=days)).isoformat()}
                for sku, quantity, price, days in lines]}
            order = services.purchase_order_create(**_ctx(buyer, tenant), data=data, source="demo")
            rep = ctx["users"]["supa.rep" if supplier == "sup-a" else "supb.rep"]
            for move in moves:
                if move == "send":
                    order = services.purchase_order_send(**_ctx(buyer, tenant), order=order)
                elif move == "confirm":
                    order = services.purchase_order_confirm(**_ctx(rep, tenant), order=order)
                elif move == "propose_date":
                    later = (date.fromisoformat(data["lines"][0]["requested_date"]) + timedelta(days=5)).isoformat()
                    order = services.purchase_order_confirm(**_ctx(rep, tenant), order=order, answers=[
                        {"line": 1, "promised_date": later, "note": "原材料到货推迟 / raw material arrives later"}])
                elif move == "cancel":
                    order = services.purchase_order_cancel(**_ctx(buyer, tenant), order=order, reason="需求取消")
