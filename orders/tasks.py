from celery import shared_task


@shared_task(name="orders.po_unconfirmed_sweep", acks_late=True)
def po_unconfirmed_sweep():
    """Raises `po_unconfirmed` for POs sent and unconfirmed past their tenant's time (safe on
    several workers at once: each PO is taken with SKIP LOCKED)."""
    from orders.services.purchase_orders import purchase_order_alert_unconfirmed

    return purchase_order_alert_unconfirmed()
