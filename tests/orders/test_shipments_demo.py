"""The logistics demo: a late shipment off its route and a quality hold, idempotent, and the stock
demo still tells its story after it."""

import pytest

from alerts.models import Alert
from orders import demo_logistics
from orders.models import Position, PurchaseOrder, QualityHold, Receipt, Shipment

pytestmark = pytest.mark.django_db


def snapshot():
    return (PurchaseOrder.objects.count(), Shipment.objects.count(), Position.objects.count(), Receipt.objects.count(),
            QualityHold.objects.count(), sorted(Alert.objects.values_list("kind", "state")))


def test_the_demo_tells_both_stories_once(demo):
    demo_logistics.seed(demo)
    late = Shipment.objects.get(lines__order_line__order__number=demo_logistics.LATE_PO)
    assert late.deviating and late.state == "in_transit"
    kinds = dict(Alert.objects.filter(subject_ref=str(late.pk), subject_kind="shipment").values_list("kind", "state"))
    assert kinds == {"route_deviation": "open", "shipment_late": "open"}
    hold = QualityHold.objects.get()
    assert (hold.lot, hold.state, hold.order.number) == (demo_logistics.HELD_LOT, "held", demo_logistics.HOLD_PO)
    assert Alert.objects.filter(kind="quality_hold", state="open").count() == 1
    assert PurchaseOrder.objects.get(number=demo_logistics.HOLD_PO).state == "received"
    before = snapshot()
    demo_logistics.seed(demo)
    assert snapshot() == before


def test_the_stock_demo_runs_after_it(demo):
    from inventory import demo as inventory_demo
    from inventory.models import StockLevel

    demo_logistics.seed(demo)
    inventory_demo.seed(demo)
    # The failed lot never entered stock: SKU-1001's peak still leaves it at 400.
    assert StockLevel.objects.get(tenant=demo["tenants"]["acme"], sku__code="SKU-1001").on_hand == 400
