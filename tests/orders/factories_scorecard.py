"""Purchase orders, their history, receipts, shipments and alerts written straight with the ORM,
for the scorecard and bot tests: the records as the order and logistics services leave them,
with the times and dates each test needs."""

import itertools
import zoneinfo
from datetime import datetime, time, timedelta

import factory
from django.utils import timezone

from alerts.models import Alert, AlertState
from inventory.models import SKU, Warehouse
from orders.models import (
    LineStatus,
    PurchaseOrder,
    PurchaseOrderEvent,
    PurchaseOrderLine,
    PurchaseOrderState,
    Receipt,
    Shipment,
    ShipmentLine,
)
from tests.api_contract import user

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
_numbers = itertools.count(1)


def local(day, hour=12, minute=0):
    """A moment of a day in the demo tenants' time zone (Asia/Shanghai)."""
    return datetime.combine(day, time(hour, minute), SHANGHAI)


def catalogue(tenant):
    """The tenant's warehouse WH-S and SKU SKU-S1 (created once)."""
    warehouse, _ = Warehouse.objects.get_or_create(tenant=tenant, code="WH-S", defaults={"name": "评分仓"})
    sku, _ = SKU.objects.get_or_create(tenant=tenant, code="SKU-S1", defaults={"name": "评分物料", "unit": "pcs"})
    return warehouse, sku


class PurchaseOrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PurchaseOrder

    number = factory.LazyFunction(lambda: f"PO-T{next(_numbers):06d}")
    currency = "CNY"
    state = PurchaseOrderState.SENT
    source = "api"


def make_po(tenant, supplier, *, state=PurchaseOrderState.CONFIRMED, number=None, lines=(), sent_at=None,
            confirmed_at=None, history=None):
    """A PO of `supplier` with `lines` (dicts: quantity, requested, promised, status, accepted,
    rejected, shipped) and a history: `send` at `sent_at`, `confirm` at `confirmed_at`, or the
    (action, to_state, at) of `history`."""
    warehouse, sku = catalogue(tenant)
    buyer = user("acme.buyer") if tenant.slug == "acme" else user("globex.buyer")
    po = PurchaseOrderFactory(tenant=tenant, supplier=supplier, warehouse=warehouse, state=state, created_by=buyer,
                              sent_at=sent_at, confirmed_at=confirmed_at, **({"number": number} if number else {}))
    for index, spec in enumerate(lines, 1):
        accepted, rejected = spec.get("accepted", 0), spec.get("rejected", 0)
        PurchaseOrderLine.objects.create(
            tenant=tenant, order=po, line=index, sku=sku, quantity=spec.get("quantity", 100),
            unit_price=spec.get("unit_price", "12.50"), requested_date=spec["requested"],
            promised_date=spec.get("promised"), status=spec.get("status", LineStatus.ACCEPTED),
            shipped_quantity=spec.get("shipped", accepted + rejected), received_quantity=accepted + rejected,
            accepted_quantity=accepted, rejected_quantity=rejected,
        )
    steps = list(history or [])
    if sent_at:
        steps.append(("send", PurchaseOrderState.SENT, sent_at))
    if confirmed_at:
        steps.append(("confirm", PurchaseOrderState.CONFIRMED, confirmed_at))
    previous = PurchaseOrderState.DRAFT
    for action, to_state, at in sorted(steps, key=lambda step: step[2]):
        PurchaseOrderEvent.objects.create(tenant=tenant, order=po, action=action, from_state=previous, to_state=to_state,
                                          actor=buyer, at=at)
        previous = to_state
    return po


def make_receipt(line, quantity, at, inspection="pass", lot="L1"):
    """A receipt of `quantity` of `line` at `at` (the line's counts are set by make_po)."""
    return Receipt.objects.create(tenant_id=line.tenant_id, order_id=line.order_id, order_line=line, quantity=quantity,
                                  inspection=inspection, lot=lot, received_by=user("acme.warehouse"), received_at=at)


def make_shipment(po, *, carrier="顺丰速运", tracking="SF1234567890", eta=None, last_position_at=None,
                  state="in_transit"):
    shipment = Shipment.objects.create(
        tenant_id=po.tenant_id, supplier_id=po.supplier_id, carrier=carrier, tracking_number=tracking,
        route=[{"lat": 31.2, "lon": 121.4}, {"lat": 31.3, "lon": 120.6}], eta=eta, state=state,
        last_lat=31.25 if last_position_at else None, last_lon=121.0 if last_position_at else None,
        last_position_at=last_position_at,
    )
    for line in po.lines.all():
        ShipmentLine.objects.create(tenant_id=po.tenant_id, shipment=shipment, order_line=line, quantity=line.quantity)
    return shipment


_alert_keys = itertools.count(1)


def make_alert(tenant, supplier, opened_at, acknowledged_at=None, kind="shipment_late"):
    """An alert about `supplier` raised at `opened_at`, first answered at `acknowledged_at`."""
    return Alert.objects.create(
        tenant=tenant, kind=kind, dedupe_key=f"scorecard:{next(_alert_keys)}", title="测试预警", partner=supplier,
        state=AlertState.ACKNOWLEDGED if acknowledged_at else AlertState.OPEN, opened_at=opened_at,
        acknowledged_at=acknowledged_at, core_audience=",buyer,",
    )


def days_ago(n, today=None):
    return (today or timezone.now().astimezone(SHANGHAI).date()) - timedelta(days=n)
