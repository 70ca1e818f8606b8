"""Row locks on inventory's rows, in the portal's one lock order (docs/ARCHITECTURE.md, "Lock order").

A SKU is inventory's record; its replenishment rules and stock levels come after it. Every write
of a rule or of stock levels holds its SKUs' locks first: FOR UPDATE to write a rule
(rule_upsert, and the rule trigger of migration inventory/0003), FOR KEY SHARE to book movements
or to act on a rule (a movement batch, the replenish button). So a rule write and those never
overlap, and a batch or a button reads the rule as it stands until it commits. Stock levels are
the SKU's lines, locked last, in (sku, warehouse) order (a batch's upsert takes them so).

A movement batch may raise and recover stock alerts once its levels have moved. Their rooms and
the open alerts it may recover are locked first (stock_alerts_lock_sent), so a batch takes
rooms → alerts → SKUs → levels, as the replenish button pressed in one of those rooms does.
"""

from django.db import connection
from django.db.models import CharField, Exists, F, Func, Q, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, Concat

from alerts.lock_objects import alert_card_room_ids, alert_room_ids, alerts_locked
from alerts.models import Alert, AlertState
from inventory.models import SKU, ReplenishmentRule, StockLevel
from messaging.lock_objects import rooms_locked
from messaging.models import Room
from scm_portal.db.templates import QueryTemplate

# The alerts a movement recovers when stock climbs back over a line (rules._check_lines): their
# dedupe keys are "<prefix>:<rule id>".
RECOVERED_BY_MOVEMENTS = ("low_stock", "reorder")


def _unnest(array_literal):
    """The ids in a PostgreSQL array literal ("{1,2,3}"), as a subquery: one parameter whatever
    the count, so a statement built once serves every batch."""
    return RawSQL("SELECT unnest(%s::bigint[])", (array_literal,))


def _rules_of_pairs(tenant_id, sku_ids, warehouse_ids):
    """The active rules of these SKUs in these warehouses (array literals)."""
    return ReplenishmentRule.objects.filter(
        tenant_id=tenant_id, active=True, sku_id__in=_unnest(sku_ids), warehouse_id__in=_unnest(warehouse_ids))


def _recoverable_alerts(tenant_id, rules):
    """The unresolved alerts of `rules` that a movement may recover."""
    keys = rules.annotate(key=Func(
        Func(*(Concat(Value(f"{prefix}:"), F("pk"), output_field=CharField()) for prefix in RECOVERED_BY_MOVEMENTS),
             function="ARRAY", template="%(function)s[%(expressions)s]"),
        function="unnest", output_field=CharField(),
    )).values("key")
    return Alert.objects.filter(tenant_id=tenant_id, dedupe_key__in=keys, state__is_not=AlertState.RESOLVED)


def _stock_alert_rooms_query(shape, *, tenant_id, sku_ids, warehouse_ids):
    rules = _rules_of_pairs(tenant_id, sku_ids, warehouse_ids)
    suppliers = rules.annotate(partner=Coalesce("supplier_id", "sku__default_supplier_id")).values("partner")
    new_alerts = alert_room_ids(tenant_id=tenant_id, partners=suppliers).filter(Exists(rules))
    recovered = alert_card_room_ids(_recoverable_alerts(tenant_id, rules))
    return rooms_locked(Room.objects.filter(Q(pk__in=new_alerts) | Q(pk__in=recovered)).values("pk"))


def _stock_alerts_query(shape, *, tenant_id, sku_ids, warehouse_ids):
    return alerts_locked(_recoverable_alerts(tenant_id, _rules_of_pairs(tenant_id, sku_ids, warehouse_ids))).values_list("pk")


_STOCK_ALERT_ROOMS_LOCK = QueryTemplate(_stock_alert_rooms_query)
_STOCK_ALERTS_LOCK = QueryTemplate(_stock_alerts_query)


def _pg_ids(ids):
    return "{" + ",".join(map(str, ids)) + "}"


def stock_alerts_lock_sent(*, tenant_id, sku_ids, warehouse_ids, using):
    """A movement batch's first locks: the rooms the alerts of the rules on these SKUs and
    warehouses would be raised in (the suppliers' rooms and the internal room, as
    alerts.lock_objects.alert_room_ids picks them) with the rooms of those rules' open alerts, in
    ascending id; then those open alerts. Nothing when no active rule covers them. Two statements,
    sent (inside pipeline() they travel with the batch's own); the function returned answers
    (room ids, alert ids)."""
    params = {"tenant_id": tenant_id, "sku_ids": _pg_ids(sku_ids), "warehouse_ids": _pg_ids(warehouse_ids)}
    rooms = _STOCK_ALERT_ROOMS_LOCK.send(using=using, **params)
    alerts = _STOCK_ALERTS_LOCK.send(using=using, **params)
    return lambda: ([row[0] for row in rooms()], [row[0] for row in alerts()])


def skus_lock_sent(ids, *, key_share=False):
    """Sends the lock of these SKUs in ascending id: FOR UPDATE to write their rules, FOR KEY
    SHARE to book movements or act on a rule. The function returned answers their ids."""
    mode = "FOR KEY SHARE" if key_share else "FOR UPDATE"
    cursor = connection.cursor()
    cursor.execute(f"SELECT id FROM {SKU._meta.db_table} WHERE id = ANY(%s::bigint[]) ORDER BY id {mode}", [_pg_ids(ids)])

    def fetch():
        try:
            return [pk for (pk,) in cursor.fetchall()]
        finally:
            cursor.close()

    return fetch


def skus_lock(ids, *, key_share=False):
    """Locks these SKUs (see skus_lock_sent); returns their ids."""
    return skus_lock_sent(ids, key_share=key_share)()


def stock_levels_lock(*, tenant_id, pairs, share=True):
    """Locks the stock levels of these (sku id, warehouse id) pairs in (sku, warehouse) order,
    after their SKUs: FOR SHARE to act on the stock as it stands (no batch moves it until the
    caller commits), FOR NO KEY UPDATE otherwise. Returns {pair: on_hand} of the levels there are."""
    pairs = sorted(set(pairs))
    if not pairs:
        return {}
    mode = "FOR SHARE" if share else "FOR NO KEY UPDATE"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT sku_id, warehouse_id, on_hand FROM {StockLevel._meta.db_table} "
            f"WHERE tenant_id = %s AND (sku_id, warehouse_id) IN (SELECT * FROM unnest(%s::bigint[], %s::bigint[])) "
            f"ORDER BY sku_id, warehouse_id {mode}",
            [tenant_id, "{" + ",".join(str(s) for s, _w in pairs) + "}", "{" + ",".join(str(w) for _s, w in pairs) + "}"],
        )
        return {(sku_id, warehouse_id): on_hand for sku_id, warehouse_id, on_hand in cursor.fetchall()}
