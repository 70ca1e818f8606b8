"""Every write to orders records, by concern (logistics: shipments, positions, receipts).

Callers import the module that holds the write: `from orders.services.shipments import shipment_create`.
"""
