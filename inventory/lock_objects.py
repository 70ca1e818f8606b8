"""Row locks on inventory's rows, in the portal's one lock order (docs/ARCHITECTURE.md, "Lock order").

A SKU is inventory's record; its replenishment rules and stock levels come after it. Every write
of a rule or of stock levels holds its SKUs' locks first: FOR UPDATE to write a rule
(rule_upsert, and the rule trigger of migration inventory/0003), FOR KEY SHARE to book movements
or to act on a rule (a movement batch, the replenish button). So a rule write and those never
overlap, and a batch or a button reads the rule as it stands until it commits. Stock levels are
the SKU's lines, locked after it, in (sku, warehouse) order (a batch's upsert takes them so).

A movement batch raises and recovers stock alerts once its levels have moved, and their cards go
to rooms. Those rooms are locked before anything else of the transaction that raises them
(stock_alert_rooms_lock_sent): the batch's second one (rooms → SKUs → its crossings → alerts),
or, inside a caller's transaction, the batch's own (rooms → SKUs → levels → alerts), as the
replenish button pressed in one of them does (rooms → SKU → level → alert).
"""

from django.db import connection
from django.db.models import BooleanField, Exists, F, Func, Q

from alerts.lock_objects import alert_room_ids
from inventory.models import SKU, ReplenishmentRule, RuleCrossing, StockLevel
from messaging.lock_objects import rooms_locked
from scm_portal.db.templates import QueryTemplate
from scm_portal.tenancy.models import Organization


class _AnyOf(Func):
    """`column = ANY(ids)`, the ids as one PostgreSQL array literal ("{1,2,3}"): one parameter
    whatever their count, so a statement built once serves every batch."""

    template = "%(expressions)s = ANY(%%s::bigint[])"
    output_field = BooleanField()

    def __init__(self, column, array_literal):
        super().__init__(F(column))
        self.array_literal = array_literal

    def as_sql(self, compiler, connection, **extra):
        sql, params = super().as_sql(compiler, connection, **extra)
        return sql, (*params, self.array_literal)


def _pg_ids(ids):
    return "{" + ",".join(map(str, ids)) + "}"


def _stock_alert_rooms_query(shape, *, tenant_id, sku_ids, warehouse_ids):
    rules = ReplenishmentRule.objects.filter(
        _AnyOf("sku_id", sku_ids), _AnyOf("warehouse_id", warehouse_ids), tenant_id=tenant_id, active=True)
    # A rule's alerts go to its own supplier, else to its SKU's default one. The SKUs' default
    # suppliers are taken whether or not their SKU has a rule here: one pass over the SKUs, not a
    # join of every rule with its SKU (a room too many, at worst, in a batch mixing both).
    suppliers = Organization.objects.filter(
        Q(pk__in=rules.filter(supplier__isnull=False).values("supplier_id"))
        | Q(pk__in=SKU.objects.filter(_AnyOf("id", sku_ids)).values("default_supplier_id"))
    ).values("pk")
    return rooms_locked(alert_room_ids(tenant_id=tenant_id, partners=suppliers).filter(Exists(rules)))


# Sent with every movement batch, in its pipeline with its statement (the one bulk-SQL path,
# inventory/services/movements.py): compiled once, the ids as one array parameter each, where an
# ORM `__in` of a 1,000-row batch's ids would bind them one by one (psycopg's list binding: ~10 ms
# per batch, bench/STOCK.md "Ingestion").
_STOCK_ALERT_ROOMS_LOCK = QueryTemplate(_stock_alert_rooms_query)


def stock_alert_rooms_lock_sent(*, tenant_id, sku_ids, warehouse_ids, using):
    """The first lock of the transaction raising a movement batch's alerts: the rooms the alerts
    of the active rules on these SKUs in these warehouses go to (their suppliers' rooms and the
    internal room, as alerts.lock_objects.alert_room_ids picks them), in ascending id; none when
    no active rule covers them. Sent (inside pipeline() it travels with what follows it: the SKU
    locks, the batch's statement or the claim of its crossings); the function returned answers
    the ids of the rooms locked."""
    fetch = _STOCK_ALERT_ROOMS_LOCK.send(using=using, tenant_id=tenant_id, sku_ids=_pg_ids(sku_ids),
                                         warehouse_ids=_pg_ids(warehouse_ids))
    return lambda: [row[0] for row in fetch()]


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
            [tenant_id, _pg_ids(s for s, _w in pairs), _pg_ids(w for _s, w in pairs)],
        )
        return {(sku_id, warehouse_id): on_hand for sku_id, warehouse_id, on_hand in cursor.fetchall()}


def rule_crossings_claim_sent(*, tenant_id, rule_ids, skip_locked=False):
    """Sends the claim of the pending crossings of these rules (the movement outbox,
    inventory.models.RuleCrossing): locked FOR UPDATE in ascending id (SKIP LOCKED for the sweep)
    and deleted, in one statement; whoever claims them raises them in the same transaction, so a
    concurrent claimant waits, then finds them gone. After the rooms and the rules' SKUs (the
    crossings are the rules' lines). The function returned answers [(id, rule id, old, new)] in id
    order."""
    table = RuleCrossing._meta.db_table
    skip = " SKIP LOCKED" if skip_locked else ""
    cursor = connection.cursor()
    cursor.execute(
        f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE tenant_id = %s AND rule_id = ANY(%s::bigint[]) "
        f"ORDER BY id FOR UPDATE{skip}) RETURNING id, rule_id, old, new",
        [tenant_id, _pg_ids(sorted(set(rule_ids)))],
    )

    def fetch():
        try:
            return sorted(cursor.fetchall())
        finally:
            cursor.close()

    return fetch
