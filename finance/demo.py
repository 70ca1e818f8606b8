"""Demo financing for acme: sup-a has a confirmed receivable to finance, and an application
awaiting the two finance approvers (acme.finance, acme.cfo) and then bank.officer.

It stands on a PO of sup-a received in full (PO-FIN-DEMO, made here in the database if the
orders demo has none by that number). Idempotent: each invoice is looked up by its number
first, so a second run changes nothing.
"""

from datetime import date, timedelta
from decimal import Decimal

from django.utils import timezone

from finance import services
from finance.models import Invoice, ReceivableState
from scm_portal.tenancy.access import tenant_context_for

PO_NUMBER = "PO-FIN-DEMO"
# invoice number, amount, days to the due date, amount to apply for (None: no application)
INVOICES = [("INV-2026-0001", "50000.00", 90, None), ("INV-2026-0002", "30000.00", 60, "24000.00")]


def _received_po(tenant, supplier):
    from inventory.models import SKU, Warehouse
    from orders.models import PurchaseOrder, PurchaseOrderLine, PurchaseOrderState

    po = PurchaseOrder.objects.for_tenant(tenant).filter(number=PO_NUMBER).first()
    if po is not None:
        return po
    warehouse = Warehouse.objects.for_tenant(tenant).order_by("pk").first()
    sku = SKU.objects.for_tenant(tenant).order_by("pk").first()
    if warehouse is None or sku is None:
        warehouse = warehouse or Warehouse.objects.create(tenant=tenant, code="WH-FIN", name="财务演示仓")
        sku = sku or SKU.objects.create(tenant=tenant, code="SKU-FIN", name="演示物料")
    po = PurchaseOrder.objects.create(tenant=tenant, number=PO_NUMBER, supplier=supplier, warehouse=warehouse,
                                      currency="CNY", state=PurchaseOrderState.RECEIVED, source="demo")
    PurchaseOrderLine.objects.create(tenant=tenant, order=po, line=1, sku=sku, quantity=1000, unit_price=Decimal("80.00"),
                                     requested_date=date.today(), shipped_quantity=1000, received_quantity=1000,
                                     accepted_quantity=1000)
    return po


def seed(ctx):
    tenant = ctx["tenants"]["acme"]
    supplier, bank = ctx["organizations"]["sup-a"], ctx["organizations"]["bank"]
    rep, finance = ctx["users"]["supa.rep"], ctx["users"]["acme.finance"]
    rep_context, finance_context = tenant_context_for(rep, tenant), tenant_context_for(finance, tenant)
    po = _received_po(tenant, supplier)
    for number, amount, days, financed in INVOICES:
        if Invoice.objects.for_tenant(tenant).filter(supplier=supplier, number=number).exists():
            continue
        invoice = services.invoice_create(tenant=tenant, actor=rep, context=rep_context, purchase_order=po, number=number,
                                          amount=Decimal(amount), currency="CNY")
        receivable = services.receivable_confirm(tenant=tenant, actor=finance, context=finance_context,
                                                 receivable=invoice.receivable,
                                                 due_date=timezone.localdate() + timedelta(days=days))
        if financed and receivable.state == ReceivableState.CONFIRMED:
            services.financing_apply(tenant=tenant, actor=rep, context=rep_context, receivables=[receivable.pk],
                                     amount=Decimal(financed), funder=bank)
