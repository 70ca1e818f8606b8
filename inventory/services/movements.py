"""Stock movements: validated and applied as one set-based statement per batch.

One validation pass and one code lookup, then one statement that inserts the batch with ON
CONFLICT DO NOTHING (duplicates are counted, never applied), upserts the touched stock levels
(in a fixed order, so concurrent batches cannot deadlock and totals stay exact) and answers only
the rules whose lines the batch crossed. Never a loop of save().

Row locks follow the portal's one lock order (docs/ARCHITECTURE.md, "Lock order"). A batch that
is its own transaction (the API) locks its SKUs, then its levels (inventory.lock_objects), sent
with the statement in one round trip, and no room; the statement also writes the rule crossings
it made to an outbox (RuleCrossing), whose alerts a second transaction raises right after the
commit, rooms first (rules.rule_crossing_raise). Inside a caller's transaction, the rooms the
batch's alerts may post to are locked first, with the statement, and the alerts follow in it.

The one domain path that keeps bulk SQL and scm_portal.db's pipeline (docs/ARCHITECTURE.md): per
batch of 1,000 movements, the set-based statement took the Python time from 38–47 ms to 10–16 ms,
and psycopg's binding of list parameters alone cost ~10 ms (bench/STOCK.md, "Ingestion"). What
follows the write (the rule checks, the alerts) is plain ORM (inventory/services/rules.py).
"""

import logging
import zoneinfo
from datetime import UTC, datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from inventory.lock_objects import skus_lock_sent, stock_alert_rooms_lock_sent
from inventory.models import SKU, ReplenishmentRule, RuleCrossing, StockLevel, StockMovement, Warehouse
from inventory.services.rules import rule_check_moves, rule_crossing_raise
from scm_portal.db.templates import pipeline
from scm_portal.errors import StructuredValidationError
from scm_portal.tenancy.selectors import tenant_language

logger = logging.getLogger(__name__)

MOVEMENT_BATCH_MAX = 5000
MOVEMENT_FIELDS = frozenset({"external_id", "sku", "warehouse", "delta", "reason", "occurred_at"})
DELTA_LIMIT = 10**12


_BAD_WHEN, _FUTURE_WHEN = object(), object()
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EARLIEST = datetime(1, 1, 1, tzinfo=UTC)  # earlier is before year 1 in UTC: stored, but never read back
_MICROSECOND = timedelta(microseconds=1)


def _text_ok(value):
    """Whether PostgreSQL can store the string: JSON decodes NUL and unpaired surrogates, text holds neither."""
    if "\x00" in value:
        return False
    if value.isascii():
        return True
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def _parse_when(raw, tz, latest):
    """An aware datetime (naive ones are in the tenant's zone), else _BAD_WHEN or _FUTURE_WHEN."""
    if "\x00" in raw:  # fromisoformat stops reading at a NUL
        return _BAD_WHEN
    try:
        when = datetime.fromisoformat(raw)  # C-fast for the common ISO 8601 forms
    except ValueError:
        try:
            when = parse_datetime(raw)
        except ValueError:
            when = None
    if when is None:
        return _BAD_WHEN
    if when.tzinfo is None:
        when = timezone.make_aware(when, tz)
    if when < _EARLIEST:
        return _BAD_WHEN
    return _FUTURE_WHEN if when > latest else when


def _row_errors(row, skus, warehouses, whens, tz, latest):
    """(None, clean row) or ({field: [message]}, None) for one movement; `whens` caches parsed occurred_at."""
    if type(row) is not dict:
        return {"non_field_errors": [_("Each movement is an object.")]}, None
    errors = {}
    if not row.keys() <= MOVEMENT_FIELDS:
        for key in row:
            if key not in MOVEMENT_FIELDS:
                errors[str(key)] = [_("Unknown field.")]
    external_id = row.get("external_id")
    if type(external_id) is not str or not 0 < len(external_id) <= 100 or not _text_ok(external_id):
        errors["external_id"] = [_("external_id is a string of 1 to 100 characters.")]
    code = row.get("sku")
    sku_id = skus.get(code) if type(code) is str else None
    if sku_id is None:
        errors["sku"] = [_("No such SKU.")]
    code = row.get("warehouse")
    warehouse_id = warehouses.get(code) if type(code) is str else None
    if warehouse_id is None:
        errors["warehouse"] = [_("No such warehouse.")]
    delta = row.get("delta")
    if type(delta) is not int or delta == 0 or not -DELTA_LIMIT <= delta <= DELTA_LIMIT:  # bool is not int here
        errors["delta"] = [_("delta is a non-zero whole number.")]
    reason = row.get("reason", "")
    if type(reason) is not str or len(reason) > 50 or not _text_ok(reason):
        errors["reason"] = [_("reason is a string of at most 50 characters.")]
    raw = row.get("occurred_at")
    if type(raw) is str:
        occurred_at = whens.get(raw)
        if occurred_at is None:
            occurred_at = whens[raw] = _parse_when(raw, tz, latest)
    else:
        occurred_at = _BAD_WHEN
    if occurred_at is _BAD_WHEN:
        errors["occurred_at"] = [_("occurred_at is an ISO 8601 date and time.")]
    elif occurred_at is _FUTURE_WHEN:
        errors["occurred_at"] = [_("occurred_at is in the future.")]
    if errors:
        return errors, None
    return None, (external_id, sku_id, warehouse_id, delta, reason, occurred_at)


def _pg_array(values):
    """A PostgreSQL array literal of integers, or of strings already checked by _text_ok.

    One string parameter instead of a list: psycopg's client-side binding quotes a list element
    by element in Python, ~10 ms for the six columns of a thousand movements. The strings are
    escaped in one pass over their NUL-joined text (no element holds a NUL)."""
    if not values:
        return "{}"
    if type(values[0]) is int:
        return "{" + ",".join(map(str, values)) + "}"
    text = "\x00".join(values)
    if "\\" in text:
        text = text.replace("\\", "\\\\")
    if '"' in text:
        text = text.replace('"', '\\"')
    return '{"' + text.replace("\x00", '","') + '"}'


# The batch's two statements are prepared, but PostgreSQL kept planning them anew on every run
# (a custom plan: 0.2 and 0.5 ms of every batch, more than running them), as it judges a plan for
# arrays of unknown length worse. Their plans do not depend on the values (index lookups by
# tenant and code, upserts by key), so within the batch's transaction they use the generic plan
# made once per connection. SET LOCAL: it ends with the transaction at the latest.
_GENERIC_PLANS = "SET LOCAL plan_cache_mode = force_generic_plan"
_DEFAULT_PLANS = "SET LOCAL plan_cache_mode = auto"


def _ids_by_codes(tenant, sku_codes, warehouse_codes):
    """({code: id} of the tenant's SKUs, {code: id} of its active warehouses), in one query.
    Nothing is locked yet: the batch's locks go with its write (_ingest_postgresql)."""
    sku_codes = [c for c in sku_codes if _text_ok(c)]
    warehouse_codes = [c for c in warehouse_codes if _text_ok(c)]
    with pipeline(), connection.cursor() as cursor:
        # This lookup and the batch's write are planned once per connection, not per batch
        # (see _GENERIC_PLANS); the mode is set back after the write (_ingest_postgresql).
        cursor.execute(_GENERIC_PLANS)
        cursor.execute(
            f"SELECT false, code, id FROM {SKU._meta.db_table} "
            f"WHERE tenant_id = %s AND code = ANY(%s::text[]) "
            f"UNION ALL SELECT true, code, id FROM {Warehouse._meta.db_table} "
            f"WHERE tenant_id = %s AND active AND code = ANY(%s::text[])",
            [tenant.id, _pg_array(sku_codes), tenant.id, _pg_array(warehouse_codes)],
        )
        skus, warehouses = {}, {}
        for is_warehouse, code, pk in cursor.fetchall():
            (warehouses if is_warehouse else skus)[code] = pk
        return skus, warehouses


def _tenant_zone(tenant):
    try:
        return zoneinfo.ZoneInfo(tenant.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return timezone.get_default_timezone()


def check_movement_rows(*, tenant, rows):
    """Clean rows (external_id, sku_id, warehouse_id, delta, reason, occurred_at), or a
    StructuredValidationError naming every bad row by its index."""
    return _checked(tenant, rows)[0]


def _checked(tenant, rows):
    """(clean rows, ids of the SKUs they move, ids of their warehouses): check_movement_rows."""
    if isinstance(rows, dict):
        rows = [rows]
    if not isinstance(rows, list) or not rows:
        raise ValidationError({"rows": _("Send one movement object or a non-empty list of them.")})
    if len(rows) > MOVEMENT_BATCH_MAX:
        raise ValidationError({"rows": _("At most %(max)d movements per request.") % {"max": MOVEMENT_BATCH_MAX}})
    sku_codes, warehouse_codes = set(), set()
    for row in rows:
        if type(row) is dict:
            code = row.get("sku")
            if type(code) is str:
                sku_codes.add(code)
            code = row.get("warehouse")
            if type(code) is str:
                warehouse_codes.add(code)
    skus, warehouses = _ids_by_codes(tenant, sku_codes, warehouse_codes)
    tz, latest, whens = _tenant_zone(tenant), timezone.now() + timedelta(days=1), {}
    clean, errors = [], {}
    for index, row in enumerate(rows):
        row_errors, value = _row_errors(row, skus, warehouses, whens, tz, latest)
        if row_errors:
            errors[str(index)] = row_errors
        else:
            clean.append(value)
    if errors:
        raise StructuredValidationError(
            _("%(n)d of %(total)d movements are invalid; nothing was applied.") % {"n": len(errors), "total": len(rows)},
            fields={"rows": errors},
        )
    # Every row is valid, so each code found is one a row moves: no pass over the rows to collect them.
    return clean, skus.values(), warehouses.values()


# Whether the move of a stock level from p.old to p.new crosses one of rule r's lines (or owes a step
# check): the SQL twin of _check_lines and _check_step, so only rules with work to do are loaded.
_RULE_CROSSED_SQL = """(
     (p.new < r.safety_stock AND r.safety_stock <= p.old)
  OR (p.new >= r.safety_stock AND r.safety_stock > p.old)
  OR (r.reorder_point > 0 AND p.new <= r.reorder_point AND r.reorder_point < p.old)
  OR (r.reorder_point > 0 AND p.new > r.reorder_point AND r.reorder_point >= p.old)
  OR (r.step IS NOT NULL AND (r.step_reference IS NULL OR p.new > r.step_reference
                              OR r.step_reference - p.new >= r.step)))"""

# Whether the move is one a rule's alert follows (raised or recovered: it needs the alert's rooms),
# not only a step reference moved: the lines crossed, or a step fallen (_check_lines, _check_step).
_RULE_ALERTING_SQL = """(
     (p.new < r.safety_stock AND r.safety_stock <= p.old)
  OR (p.new >= r.safety_stock AND r.safety_stock > p.old)
  OR (r.reorder_point > 0 AND p.new <= r.reorder_point AND r.reorder_point < p.old)
  OR (r.reorder_point > 0 AND p.new > r.reorder_point AND r.reorder_point >= p.old)
  OR (r.step IS NOT NULL AND coalesce(r.step_reference, p.old) - p.new >= r.step))"""

# One statement per batch: insert the new movements (a known external_id is skipped,
# and counted as a duplicate), add their totals to the stock levels, and answer the number created
# plus (rule id, old level, new level, sku, warehouse, alerting) for each active rule whose lines
# the batch crosses. Each touched level's rule is read once, before the levels: a level the batch
# creates gets its copy of the rule's safety stock from it (see _ids_by_codes for why that read
# cannot be stale). Locks are taken in one fixed order by every batch (movements by external_id,
# levels by (sku, warehouse)), so overlapping concurrent batches wait for each other but never
# deadlock. Recording (_INGEST_RECORDING_SQL), the statement also writes each crossing to the
# outbox (RuleCrossing), whose alerts come in a second transaction.
_INGEST_HEAD = f"""
WITH batch AS (
    SELECT * FROM unnest(%s::text[], %s::bigint[], %s::bigint[], %s::bigint[], %s::text[], %s::bigint[])
        WITH ORDINALITY AS b(e, s, w, d, r, o, n)
), inserted AS (
    INSERT INTO {StockMovement._meta.db_table}
        (tenant_id, external_id, sku_id, warehouse_id, delta, reason, occurred_at, source, created_at)
    SELECT %s, e, s, w, d, r, to_timestamp(o / 1000000) + (o %% 1000000) * interval '1 microsecond', %s, %s
    FROM batch ORDER BY e COLLATE "C", n
    ON CONFLICT (tenant_id, external_id) DO NOTHING
    RETURNING sku_id, warehouse_id, delta
), totals AS (
    SELECT t.sku_id, t.warehouse_id, t.delta, t.created, r.id AS rule_id, r.safety_stock, r.reorder_point,
           r.step, r.step_reference
    FROM (SELECT sku_id, warehouse_id, sum(delta)::bigint AS delta, count(*) AS created
          FROM inserted GROUP BY sku_id, warehouse_id) AS t
    LEFT JOIN {ReplenishmentRule._meta.db_table} r
        ON r.tenant_id = %s AND r.sku_id = t.sku_id AND r.warehouse_id = t.warehouse_id AND r.active
), levels AS (
    INSERT INTO {StockLevel._meta.db_table} AS l
        (tenant_id, sku_id, warehouse_id, on_hand, rule_safety_stock, updated_at)
    SELECT %s, sku_id, warehouse_id, delta, safety_stock, %s FROM totals ORDER BY sku_id, warehouse_id
    ON CONFLICT (tenant_id, sku_id, warehouse_id)
        DO UPDATE SET on_hand = l.on_hand + excluded.on_hand, updated_at = excluded.updated_at
    RETURNING sku_id, warehouse_id, on_hand
), crossed AS (
    SELECT r.rule_id, p.old, p.new, r.sku_id, r.warehouse_id, {_RULE_ALERTING_SQL} AS alerting
    FROM levels v JOIN totals r ON r.sku_id = v.sku_id AND r.warehouse_id = v.warehouse_id
    CROSS JOIN LATERAL (SELECT v.on_hand - r.delta AS old, v.on_hand AS new) AS p
    WHERE r.rule_id IS NOT NULL AND {_RULE_CROSSED_SQL}
)"""
_INGEST_TAIL = """
SELECT NULL::bigint, (SELECT coalesce(sum(created), 0) FROM totals)::bigint, NULL::bigint, NULL::bigint, NULL::bigint,
       NULL::boolean
UNION ALL
SELECT rule_id, old, new, sku_id, warehouse_id, alerting FROM crossed"""
_INGEST_SQL = _INGEST_HEAD + _INGEST_TAIL
# Run in every statement, read or not (PostgreSQL runs a WITH's INSERT to completion either way).
_INGEST_RECORDING_SQL = _INGEST_HEAD + f""", recorded AS (
    INSERT INTO {RuleCrossing._meta.db_table} (tenant_id, rule_id, old, new, created_at)
    SELECT %s, rule_id, old, new, %s FROM crossed ORDER BY rule_id
)""" + _INGEST_TAIL


def _ingest_postgresql(tenant, rows, source, sku_ids, warehouse_ids, record=False):
    """Applies clean rows (moving `sku_ids` in `warehouse_ids`) in one statement; returns
    (created, [(rule id, old, new, sku id, warehouse id, alerting)] of the rules crossed).

    Not `record`ing (inside a caller's transaction): the statement is sent after the lock of the
    rooms the batch's alerts may post to, and the caller raises the alerts in the same
    transaction. `record`ing (the batch is its own transaction): no room is locked, and the
    crossings are written to the outbox for a second transaction (stock_movement_ingest)."""
    external_ids, sku_ids, warehouse_ids, deltas, reasons, occurred = (list(column) for column in zip(*rows))
    # Times travel as microseconds since the epoch (split into seconds and microseconds in SQL, both
    # exact): any offset Python accepts works, where PostgreSQL's own parser stops at ±15:59.
    micros = {}
    for when in occurred:
        if when not in micros:
            micros[when] = (when - _EPOCH) // _MICROSECOND
    now = timezone.now()
    params = [
        _pg_array(external_ids), _pg_array(sku_ids), _pg_array(warehouse_ids), _pg_array(deltas),
        _pg_array(reasons), _pg_array([micros[when] for when in occurred]),
        tenant.id, source, now, tenant.id, tenant.id, now,
    ]
    with pipeline(), connection.cursor() as cursor:
        # The lock order (docs/ARCHITECTURE.md): a room before anything of a SKU, as a button
        # pressed in it takes them. Inside a caller's transaction, the alerts come in this one:
        # the rooms they may post to are locked first. Recording, the batch locks no room: its
        # alerts come in a transaction of their own, which locks their rooms first
        # (rules.rule_crossing_raise). Then its SKUs FOR KEY SHARE (as the movements' foreign keys
        # would): a rule write locks its SKU FOR UPDATE (rule_upsert and the rule trigger of
        # migration inventory/0003), so it and a batch never overlap on a SKU, and the level the
        # statement creates reads its rule's safety stock after any such write has committed (and
        # a rule written after that sees the level). Then the statement locks the levels.
        room_locks = (lambda: None) if record else stock_alert_rooms_lock_sent(
            tenant_id=tenant.id, sku_ids=sku_ids, warehouse_ids=warehouse_ids, using=connection.alias)
        sku_locks = skus_lock_sent(sku_ids, key_share=True)
        # The movements' foreign keys are checked by the statement itself, not at commit: a batch
        # that raises alerts in its transaction holds its rooms' locks until commit, which should
        # hold nothing slow (the checks of a thousand movements take ~10 ms). Sent with the
        # statement: no extra round trip.
        _check_movement_foreign_keys()
        cursor.execute(_INGEST_RECORDING_SQL if record else _INGEST_SQL, params + ([tenant.id, now] if record else []))
        with connection.cursor() as mode:  # sent before the answer is asked for: same round trip
            mode.execute(_DEFAULT_PLANS)  # what follows (rules, alerts) plans as usual
        result = cursor.fetchall()
        room_locks(), sku_locks()  # answered with the statement's answer
    created, crossed = 0, []
    for row in result:
        if row[0] is None:
            created = row[1]
        else:
            crossed.append(row)
    return created, crossed


_movement_foreign_keys = None  # the movement table's deferred foreign keys, read once per process


def _check_movement_foreign_keys():
    """Makes the movements' deferred foreign-key checks run at the end of each statement (the
    batch's insert) rather than at commit."""
    global _movement_foreign_keys
    with connection.cursor() as cursor:
        if _movement_foreign_keys is None:
            cursor.execute(
                "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f' AND condeferred",
                [StockMovement._meta.db_table],
            )
            _movement_foreign_keys = ", ".join(connection.ops.quote_name(name) for (name,) in cursor.fetchall())
        if _movement_foreign_keys:
            cursor.execute(f"SET CONSTRAINTS {_movement_foreign_keys} IMMEDIATE")


def stock_movement_ingest(*, tenant, actor, rows, source="api"):
    """Applies a batch of movements exactly once each; returns {"created", "duplicates"}.

    A batch with any bad row changes nothing (ValidationError listing every bad row). Within a
    batch the first movement of an external_id counts, later ones are duplicates. The alerts of
    the rules it crosses are raised (or recovered) before it returns.

    Called outside a transaction (the API, an ERP event), it runs two: the batch (its SKUs, its
    levels, the crossings it made, written to the outbox, RuleCrossing), with no room lock, so
    concurrent batches of a tenant run side by side; then, right after the commit, the alerts of
    those crossings under their rooms' locks (rules.rule_crossing_raise: rooms → SKUs → the
    crossings → the alerts), which deletes them. A batch that crosses no line takes no room
    lock. Should the second fail (or the process die between the two), the movements stand and
    the beat sweep raises the crossings left (rules.rule_crossing_sweep), once.

    Called inside a caller's transaction (a goods receipt, the demo seeding, tests), both parts
    would share it, and a room locked after the levels breaks the lock order: there the batch
    locks the rooms its alerts may post to first, with its statement, and raises them in the
    same transaction, with no outbox row (docs/ARCHITECTURE.md, "Lock order").
    """
    if transaction.get_connection().in_atomic_block:
        with transaction.atomic():
            clean, sku_ids, warehouse_ids = _checked(tenant, rows)
            created, crossed = _ingest_postgresql(tenant, clean, source, sku_ids, warehouse_ids)
            if crossed:
                with tenant_language(tenant):
                    rule_check_moves(tenant, {rule_id: (old, new) for rule_id, old, new, *_rest in crossed})
        return {"created": created, "duplicates": len(clean) - created}
    with transaction.atomic():
        clean, sku_ids, warehouse_ids = _checked(tenant, rows)
        created, crossed = _ingest_postgresql(tenant, clean, source, sku_ids, warehouse_ids, record=True)
    if crossed:
        try:
            rule_crossing_raise(tenant=tenant, rule_ids=[row[0] for row in crossed],
                                sku_ids=[row[3] for row in crossed], warehouse_ids=[row[4] for row in crossed],
                                rooms=any(row[5] for row in crossed))
        except Exception:  # the movements stand; their crossings wait for the sweep
            logger.exception("Stock alerts of tenant %s left to the sweep", tenant.pk)
    return {"created": created, "duplicates": len(clean) - created}


# --- rules ---------------------------------------------------------------------------------

