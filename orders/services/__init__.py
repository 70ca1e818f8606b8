"""Every write of the orders app: purchase orders (purchase_orders.py), logistics beside them."""
