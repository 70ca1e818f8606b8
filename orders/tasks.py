from celery import shared_task


@shared_task(name="orders.po_unconfirmed_sweep", acks_late=True)
def po_unconfirmed_sweep():
    """Raises `po_unconfirmed` for POs sent and unconfirmed past their tenant's time (safe on
    several workers at once: each PO is taken with SKIP LOCKED)."""
    from orders.services.purchase_orders import purchase_order_alert_unconfirmed

    return purchase_order_alert_unconfirmed()


@shared_task(name="orders.shipment_late_sweep", acks_late=True)
def shipment_late_sweep():
    """Raises `shipment_late` for shipments still in transit once the day after a line's promised
    date has begun (safe on several workers at once: each shipment is taken with SKIP LOCKED)."""
    from orders.services.shipments import shipment_alert_late

    return shipment_alert_late()
