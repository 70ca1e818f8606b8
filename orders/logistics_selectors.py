"""Reads of logistics records as a user may see them (shipments, their positions and alerts)."""

from alerts.selectors import alert_list
from orders.models import Position, Shipment, ShipmentLine


def shipment_list(user, tenant, *, context):
    """The shipments `user` may see in `tenant`, newest first, with their supplier."""
    return (Shipment.objects.for_tenant(tenant).visible_to(user, "view", context=context)
            .select_related("supplier").order_by("-created_at", "-pk"))


def shipment_lines_of(shipment):
    """The shipment's lines with their PO line, PO and SKU (the shipment already checked visible)."""
    return list(ShipmentLine.objects.filter(shipment=shipment).select_related("order_line__order", "order_line__sku")
                .order_by("pk"))


def shipment_track(shipment, *, limit=2000):
    """The shipment's positions in time order, the latest `limit` of them, as (lat, lon, at)."""
    rows = list(Position.objects.filter(tenant_id=shipment.tenant_id, shipment=shipment).order_by("-at", "-id")
                .values_list("lat", "lon", "at")[:limit])
    rows.reverse()
    return rows


def shipment_alert_list(user, tenant, shipment, *, context):
    """The alerts about the shipment that the user may see, newest first."""
    return alert_list(user=user, tenant=tenant, context=context).filter(
        subject_kind="shipment", subject_ref=str(shipment.pk)).order_by("-opened_at")
