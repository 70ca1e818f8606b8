"""Row locks on orders' rows, in the portal's one lock order (docs/ARCHITECTURE.md, "Lock order").

A purchase order is a record (kind 3); its lines come after it (kind 4), the alerts about it
last (kind 5). A PO transition posts its card in the supplier's room and may recover the PO's
`po_unconfirmed` alert, whose cards sit in the supplier's room and the tenant's internal room:
so it locks both rooms first (po_rooms_lock, one statement, ascending id), then the PO, then its
lines, then the alert. The ERP upsert posts no card: it locks the POs (ascending id), then
their lines.
"""

from django.db import router

from alerts.lock_objects import alert_room_ids
from messaging.lock_objects import room_from_row, rooms_locked
from messaging.models import RoomKind
from orders.models import PurchaseOrder, PurchaseOrderLine


def po_rooms_lock(*, tenant_id, supplier_id):
    """Locks the rooms a PO's cards and alerts go to: the supplier's partner room and the
    tenant's internal room, in ascending id, in one statement. Returns (the supplier's room or
    None, {id: Room} of every room locked)."""
    using = router.db_for_write(PurchaseOrder)
    rows = rooms_locked(alert_room_ids(tenant_id=tenant_id, partner_id=supplier_id)).using(using)
    rooms = {room.pk: room for room in (room_from_row(row, using) for row in rows)}
    supplier_room = next((room for room in rooms.values() if room.kind == RoomKind.PARTNER), None)
    return supplier_room, rooms


def purchase_order_lock(*, tenant_id, pk):
    """Locks one PO FOR UPDATE (after its rooms); returns it as it now is, with its supplier."""
    return (PurchaseOrder.objects.filter(tenant_id=tenant_id, pk=pk).select_for_update(of=("self",))
            .select_related("supplier").get())


def purchase_orders_lock(*, tenant_id, numbers):
    """Locks the POs of these numbers FOR UPDATE in ascending id (the ERP upsert); returns
    {number: PurchaseOrder} of those that exist."""
    rows = PurchaseOrder.objects.filter(tenant_id=tenant_id, number__in=list(numbers)).select_for_update().order_by("pk")
    return {order.number: order for order in rows}


def purchase_order_lines_lock(*, order_ids):
    """Locks the lines of these POs FOR UPDATE, after the POs, in ascending id; returns them."""
    return list(PurchaseOrderLine.objects.filter(order_id__in=list(order_ids)).select_for_update().order_by("pk"))
