"""Every write to inventory records, by concern:

- catalogue: warehouses and SKUs;
- movements: stock movement batches, applied set-based and exactly once;
- rules: replenishment rules, the checks and the sweep that raise stock alerts, and
  replenishment requests.

The public writes are named here, so callers write `services.sku_create(...)` whichever module
holds it.
"""

from inventory.services.catalogue import sku_create, warehouse_create
from inventory.services.movements import (
    DELTA_LIMIT,
    MOVEMENT_BATCH_MAX,
    MOVEMENT_FIELDS,
    check_movement_rows,
    stock_movement_ingest,
)
from inventory.services.rules import (
    DEMAND_DAYS,
    REPLENISHERS,
    STOCK_ALERT_AUDIENCE,
    SWEEP_RAISE_MAX,
    rule_demand_stats,
    replenishment_request_create,
    rule_upsert,
    rule_check_moves,
    rule_crossing_raise,
    rule_crossing_sweep,
    rule_sweep,
)

__all__ = [
    "DELTA_LIMIT",
    "DEMAND_DAYS",
    "MOVEMENT_BATCH_MAX",
    "MOVEMENT_FIELDS",
    "REPLENISHERS",
    "STOCK_ALERT_AUDIENCE",
    "SWEEP_RAISE_MAX",
    "check_movement_rows",
    "rule_demand_stats",
    "replenishment_request_create",
    "rule_upsert",
    "rule_check_moves",
    "rule_crossing_raise",
    "rule_crossing_sweep",
    "rule_sweep",
    "sku_create",
    "stock_movement_ingest",
    "warehouse_create",
]
