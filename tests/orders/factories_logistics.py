"""Confirmed purchase orders with lines, written through the ORM, for the logistics tests (the PO
lifecycle's services are tested on their own); shipments through the logistics service."""

import itertools
from datetime import date, timedelta

from django.utils import timezone

from inventory.models import SKU, Warehouse
from orders.models import PurchaseOrder, PurchaseOrderLine, PurchaseOrderState
from orders.services.shipments import shipment_create
from scm_portal.tenancy.access import tenant_context_for
from scm_portal.tenancy.roles import Role
from tests.api_contract import user
from tests.factories import make_member

_numbers = itertools.count(1)


def warehouse_of(tenant, code="WH-L"):
    return Warehouse.objects.get_or_create(tenant=tenant, code=code, defaults={"name": "物流测试仓"})[0]


def sku_of(tenant, code, supplier=None):
    return SKU.objects.get_or_create(tenant=tenant, code=code, defaults={"name": f"物料 {code}", "default_supplier": supplier})[0]


def confirmed_po(tenant, supplier, *, lines=((100, "SKU-L1"), (50, "SKU-L2")), number=None, state=PurchaseOrderState.CONFIRMED,
                 promised=None, warehouse=None):
    """A PO of `supplier` in `state` (confirmed by default) with `lines` [(quantity, sku code)]."""
    number = number or f"PO-L{next(_numbers):05d}"
    order = PurchaseOrder.objects.create(
        tenant=tenant, number=number, supplier=supplier, warehouse=warehouse or warehouse_of(tenant), currency="CNY",
        state=state, confirmed_at=timezone.now() if state == PurchaseOrderState.CONFIRMED else None, source="demo")
    promised = promised or date.today() + timedelta(days=10)
    for index, (quantity, code) in enumerate(lines, start=1):
        PurchaseOrderLine.objects.create(
            tenant=tenant, order=order, line=index, sku=sku_of(tenant, code, supplier), quantity=quantity,
            unit_price="12.5000", requested_date=promised, promised_date=promised, status="accepted")
    return order


def context_of(username, tenant):
    actor = user(username)
    return actor, tenant_context_for(actor, tenant)


def ship(tenant, order, username="supa.rep", **kwargs):
    actor, context = context_of(username, tenant)
    return shipment_create(tenant=tenant, actor=actor, context=context, purchase_order=order.number, **kwargs)


def logistics_user(tenant, username="acme.logistics"):
    from django.contrib.auth import get_user_model

    existing = get_user_model().objects.filter(username=username).first()
    return existing or make_member(tenant, Role.LOGISTICS, username=username)


def straight_route(start=(31.20, 121.40), end=(31.20, 122.40), points=11):
    """A planned route due east (about 95 km at this latitude), `points` points, ends as stops."""
    (lat1, lon1), (lat2, lon2) = start, end
    return [{"lat": lat1 + (lat2 - lat1) * i / (points - 1), "lon": lon1 + (lon2 - lon1) * i / (points - 1)}
            for i in range(points)]
