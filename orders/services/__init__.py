"""Every write of the orders app, by concern: purchase orders (purchase_orders.py), shipments,
positions and receipts (shipments.py, positions.py, receipts.py).

Callers import the module that holds the write: `from orders.services.shipments import shipment_create`.
"""
