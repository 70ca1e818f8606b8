"""Every write to inventory records, and the rules that turn stock changes into alerts.

The movement path is set-based: one validation pass and one code lookup, then one statement
that inserts the batch with ON CONFLICT DO NOTHING (duplicates are counted, never
applied), upserts the touched stock levels (in a fixed order, so concurrent batches cannot
deadlock and totals stay exact) and answers only the rules whose lines the batch crossed.
Never a loop of save().
"""

import math
import zoneinfo
from datetime import UTC, datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, router, transaction
from django.db.models import Sum
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from alerts import services as alerts
from alerts.models import Severity
from inventory.models import SKU, ReplenishmentRequest, ReplenishmentRule, StockLevel, StockMovement, Warehouse
from messaging import registry
from scm_portal.errors import StructuredValidationError
from scm_portal.db.templates import QueryTemplate, attnames, pipeline
from scm_portal.tenancy.models import Membership, Organization
from scm_portal.tenancy.selectors import tenant_language
from scm_portal.tenancy.roles import Role

MOVEMENT_BATCH_MAX = 5000
MOVEMENT_FIELDS = frozenset({"external_id", "sku", "warehouse", "delta", "reason", "occurred_at"})
DELTA_LIMIT = 10**12
SWEEP_RAISE_MAX = 1000  # alerts a sweep raises per tenant at most; the next sweep continues
DEMAND_DAYS = 14  # recent demand: the window of average daily consumption
# Core roles that get stock alerts live (escalation policies add more).
STOCK_ALERT_AUDIENCE = (Role.WAREHOUSE,)
REPLENISHERS = {Role.WAREHOUSE, Role.PLANNER, Role.BUYER, Role.COORDINATOR}


# --- catalogue ---------------------------------------------------------------------------------

def _check_code(value, field):
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        raise ValidationError({field: _("A code is 1 to 64 characters.")})
    return value.strip()


@transaction.atomic
def warehouse_create(*, tenant, actor, code, name):
    code = _check_code(code, "code")
    if Warehouse.objects.for_tenant(tenant).filter(code=code).exists():
        raise ValidationError({"code": _("A warehouse with this code exists.")})
    return Warehouse.objects.create(tenant=tenant, code=code, name=name)


@transaction.atomic
def sku_create(*, tenant, actor, code, name, unit="pcs", default_supplier=None):
    code = _check_code(code, "code")
    if SKU.objects.for_tenant(tenant).filter(code=code).exists():
        raise ValidationError({"code": _("A SKU with this code exists.")})
    return SKU.objects.create(tenant=tenant, code=code, name=name, unit=unit, default_supplier=default_supplier)


def _check_rule_lines(values):
    errors = {}
    for field in ("safety_stock", "reorder_point", "max_level", "step"):
        value = values.get(field)
        if value is not None and value < 0:
            errors[field] = [_("Must not be negative.")]
    if values.get("step") == 0:
        errors["step"] = [_("A step is at least 1 (or empty for none).")]
    max_level = values.get("max_level")
    if max_level is not None and max_level < max(values.get("reorder_point") or 0, values.get("safety_stock") or 0):
        errors["max_level"] = [_("The maximum level is below the reorder point or the safety stock.")]
    if errors:
        raise ValidationError(errors)


# The copy of each rule's safety stock on its stock level (StockLevel.rule_safety_stock) is kept by
# the database when a rule is written (the trigger of migration inventory/0003: any write, through
# the services or not) and by the movement batch that creates a level (_INGEST_SQL). The two never
# overlap on a SKU: a rule write locks the SKU row FOR UPDATE, a batch its SKU rows FOR KEY SHARE
# (_ids_by_codes), so whichever comes second sees what the first committed.


@transaction.atomic
def rule_upsert(*, tenant, actor, sku, warehouse, **values):
    """Creates or updates the rule of a SKU in a warehouse; then checks the current stock against it."""
    # The SKU lock the rule's trigger takes, taken first as a movement batch does (SKU, then level
    # and rule): taken after the rule row, a batch stepping this rule could deadlock with it.
    list(SKU.objects.filter(pk=sku.pk).select_for_update().values_list("pk"))
    rule = ReplenishmentRule.objects.for_tenant(tenant).filter(sku=sku, warehouse=warehouse).first()
    merged = {f: getattr(rule, f) for f in ("safety_stock", "reorder_point", "max_level", "step")} if rule else {}
    merged.update({k: v for k, v in values.items() if k in ("safety_stock", "reorder_point", "max_level", "step")})
    _check_rule_lines(merged)
    if rule is None:
        rule = ReplenishmentRule(tenant=tenant, sku=sku, warehouse=warehouse)
    for field, value in values.items():
        setattr(rule, field, value)
    if "step" in values:
        rule.step_reference = None  # counted afresh from the current level
    rule.save()
    return rule


# --- movements ---------------------------------------------------------------------------------

# What an occurred_at string parsed to, besides a datetime (each distinct string is parsed once per batch).
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

    The SKU rows are locked FOR KEY SHARE here, as the movements' foreign-key checks
    lock them at commit anyway: a rule write locks its SKU FOR UPDATE (rule_upsert and the rule
    trigger of migration inventory/0003), so it and a batch never overlap on a SKU, and the level a
    batch creates reads its rule's safety stock after any such write has committed (and a rule
    written after that sees the level)."""
    sku_codes = [c for c in sku_codes if _text_ok(c)]
    warehouse_codes = [c for c in warehouse_codes if _text_ok(c)]
    with pipeline(), connection.cursor() as cursor:
        # This lookup and the batch's write are planned once per connection, not per batch
        # (see _GENERIC_PLANS); the mode is set back after the write (_ingest_postgresql).
        cursor.execute(_GENERIC_PLANS)
        cursor.execute(
            f"SELECT false, code, id FROM (SELECT code, id FROM {SKU._meta.db_table} "
            f"WHERE tenant_id = %s AND code = ANY(%s::text[]) FOR KEY SHARE) AS s "
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
    return clean


# Whether the move of a stock level from p.old to p.new crosses one of rule r's lines (or owes a step
# check): the SQL twin of _check_lines and _check_step, so only rules with work to do are loaded.
_RULE_CROSSED_SQL = """(
     (p.new < r.safety_stock AND r.safety_stock <= p.old)
  OR (p.new >= r.safety_stock AND r.safety_stock > p.old)
  OR (r.reorder_point > 0 AND p.new <= r.reorder_point AND r.reorder_point < p.old)
  OR (r.reorder_point > 0 AND p.new > r.reorder_point AND r.reorder_point >= p.old)
  OR (r.step IS NOT NULL AND (r.step_reference IS NULL OR p.new > r.step_reference
                              OR r.step_reference - p.new >= r.step)))"""

# One statement per batch: insert the new movements (a known external_id is skipped,
# and counted as a duplicate), add their totals to the stock levels, and answer the number created
# plus (rule id, old level, new level, sku, warehouse) for each active rule whose lines the batch crosses. Each
# touched level's rule is read once, before the levels: a level the batch creates gets its copy
# of the rule's safety stock from it (see _ids_by_codes for why that read cannot be stale).
# Locks are taken in one fixed order by every batch (movements by external_id, levels by
# (sku, warehouse)), so overlapping concurrent batches wait for each other but never deadlock.
_INGEST_SQL = f"""
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
)
SELECT NULL::bigint, (SELECT coalesce(sum(created), 0) FROM totals)::bigint, NULL::bigint, NULL::bigint, NULL::bigint
UNION ALL
SELECT r.rule_id, p.old, p.new, r.sku_id, r.warehouse_id
FROM levels v JOIN totals r ON r.sku_id = v.sku_id AND r.warehouse_id = v.warehouse_id
CROSS JOIN LATERAL (SELECT v.on_hand - r.delta AS old, v.on_hand AS new) AS p
WHERE r.rule_id IS NOT NULL AND {_RULE_CROSSED_SQL}"""


def _ingest_postgresql(tenant, rows, source):
    """Applies clean rows in one statement; returns (created, {rule id: (old, new)} of the rules
    crossed, {rule id: (sku id, warehouse id)} of the same)."""
    external_ids, sku_ids, warehouse_ids, deltas, reasons, occurred = (list(column) for column in zip(*rows))
    # Times travel as microseconds since the epoch (split into seconds and microseconds in SQL, both
    # exact): any offset Python accepts works, where PostgreSQL's own parser stops at ±15:59.
    micros = {}
    for when in occurred:
        if when not in micros:
            micros[when] = (when - _EPOCH) // _MICROSECOND
    now = timezone.now()
    with pipeline(), connection.cursor() as cursor:
        # The movements' foreign keys are checked by the statement itself, not at commit: a batch
        # that raises alerts holds its rooms' locks until commit, which should hold nothing slow
        # (the checks of a thousand movements take ~10 ms). Sent with the statement: no extra round trip.
        _check_movement_foreign_keys()
        cursor.execute(_INGEST_SQL, [
            _pg_array(external_ids), _pg_array(sku_ids), _pg_array(warehouse_ids), _pg_array(deltas),
            _pg_array(reasons), _pg_array([micros[when] for when in occurred]),
            tenant.id, source, now, tenant.id, tenant.id, now,
        ])
        with connection.cursor() as mode:  # sent before the answer is asked for: same round trip
            mode.execute(_DEFAULT_PLANS)  # what follows (rules, alerts) plans as usual
        result = cursor.fetchall()
    created, crossed, pairs = 0, {}, {}
    for rule_id, old, new, sku_id, warehouse_id in result:
        if rule_id is None:
            created = old
        else:
            crossed[rule_id] = (old, new)
            pairs[rule_id] = (sku_id, warehouse_id)
    return created, crossed, pairs


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


@transaction.atomic
def stock_movements_ingest(*, tenant, actor, rows, source="api"):
    """Applies a batch of movements exactly once each; returns {"created", "duplicates"}.

    A batch with any bad row changes nothing (ValidationError listing every bad row). Within a
    batch the first movement of an external_id counts, later ones are duplicates.
    """
    clean = check_movement_rows(tenant=tenant, rows=rows)
    created, crossed, pairs = _ingest_postgresql(tenant, clean, source)
    if crossed:
        with tenant_language(tenant):
            _rules_check(tenant, crossed, pairs)
    return {"created": created, "duplicates": len(clean) - created}


# --- rules ---------------------------------------------------------------------------------

def _supplier_of(rule):
    return rule.supplier if rule.supplier_id else rule.sku.default_supplier


def _raise(tenant, rule, kind, severity, key, title, body, payload, replenish=False):
    return alerts.alert_raise(
        tenant=tenant, kind=kind, severity=severity, dedupe_key=key, title=title, body=body,
        subject_kind="sku", subject_ref=rule.sku.code, partner=_supplier_of(rule), core_audience=STOCK_ALERT_AUDIENCE,
        payload={"sku": rule.sku.code, "warehouse": rule.warehouse.code, "rule": rule.pk, **payload},
        extra_actions=("inventory_replenish",) if replenish else (),
    )


def _rules_check(tenant, moves, pairs):
    """Checks the rules {rule id: (old level, new level)} and raises their alerts. `pairs`:
    {rule id: (sku id, warehouse id)}, so their recent demand is read in the same round trip
    as the rules (it is used when a line is crossed, which is why most of them are here)."""
    if not moves:
        return []
    with pipeline():
        rules = _rules_with_relations_sent(tenant, sorted(moves))
        consumption = _consumption_sent(tenant, sorted(set(pairs.values())))
        rules, consumption = rules(), consumption()
    stats = _crossing_stats(tenant, rules, moves, consumption)
    raised, moved_references = [], []
    for rule in rules:
        old, new = moves[rule.pk]
        raised += _check_step(tenant, rule, old, new, moved_references)
        raised += _check_lines(tenant, rule, old, new, stats.get(rule.pk))
    if moved_references:
        ReplenishmentRule.objects.bulk_update(moved_references, ["step_reference"])
    return raised


# A rule with what its alerts name: its SKU, warehouse and supplier (or the SKU's default one).
_RULE_PARTS = (
    (None, ReplenishmentRule, attnames(ReplenishmentRule)),
    ("sku", SKU, attnames(SKU)),
    ("warehouse", Warehouse, attnames(Warehouse)),
    ("supplier", Organization, attnames(Organization)),
    ("sku__default_supplier", Organization, attnames(Organization)),
)
_RULE_COLUMNS = [name if prefix is None else f"{prefix}__{name}" for prefix, _model, names in _RULE_PARTS for name in names]
# Read for every batch that crosses a line: compiled for the few rules a batch usually crosses.
_RULES_WITH_RELATIONS = QueryTemplate(
    lambda shape, *, tenant_id, ids: ReplenishmentRule.objects.for_tenant(tenant_id).filter(pk__in=ids)
    .order_by("pk").values_list(*_RULE_COLUMNS)
)
_RULES_COMPILED_MAX = 8


def _rules_with_relations_sent(tenant, ids):
    """The rules `ids` of the tenant with their SKU, warehouse and suppliers attached, as
    select_related would give them, from one read (compiled for a few rules); sent, answered by
    the function returned (see scm_portal.db.templates.pipeline)."""
    if len(ids) > _RULES_COMPILED_MAX:
        rules = list(ReplenishmentRule.objects.for_tenant(tenant).filter(pk__in=ids).order_by("pk")
                     .select_related("sku__default_supplier", "warehouse", "supplier"))
        return lambda: rules
    using = router.db_for_read(ReplenishmentRule)
    fetch = _RULES_WITH_RELATIONS.send(shape=None, using=using, tenant_id=tenant.pk, ids=list(ids))
    return lambda: [_rule_from_row(using, row) for row in fetch()]


def _rule_from_row(using, row):
    objects, start = {}, 0
    for prefix, model, names in _RULE_PARTS:
        values = row[start:start + len(names)]
        start += len(names)
        objects[prefix] = None if values[0] is None else model.from_db(using, names, values)
    rule, sku = objects[None], objects["sku"]
    sku.default_supplier = objects["sku__default_supplier"]
    rule.sku, rule.warehouse, rule.supplier = sku, objects["warehouse"], objects["supplier"]
    return rule


def _check_step(tenant, rule, old, new, moved):
    """"每减少 N 件": one alert per N crossed since the last one (350 down with N=100: three)."""
    if not rule.step:
        return []
    reference = rule.step_reference if rule.step_reference is not None else old
    raised = []
    if new > reference:
        reference = new  # restocked: count the next fall from the new height
    else:
        crossed = (reference - new) // rule.step
        for i in range(1, crossed + 1):
            boundary = reference - i * rule.step
            alert, created = _raise(
                tenant, rule, "step_drop", Severity.INFO, f"step:{rule.pk}:{boundary}",
                _("%(sku)s in %(wh)s fell by another %(step)d (now %(new)d)") % {
                    "sku": rule.sku.code, "wh": rule.warehouse.code, "step": rule.step, "new": new},
                "", {"boundary": boundary, "on_hand": new},
            )
            if created:
                raised.append(alert)
        reference -= crossed * rule.step
    if reference != rule.step_reference:
        rule.step_reference = reference
        moved.append(rule)
    return raised


def _lines_crossed(rule, old, new):
    """(safety stock crossed downwards, reorder point reached from above)."""
    crossed_safety = new < rule.safety_stock <= old
    crossed_reorder = bool(rule.reorder_point) and new <= rule.reorder_point < old and new >= rule.safety_stock
    return crossed_safety, crossed_reorder


def _crossing_stats(tenant, rules, moves, consumption=None):
    """demand_stats of the rules whose lines their move {rule id: (old, new)} crosses, in one read
    (or from `consumption`, read with the rules): never for every change."""
    crossing = [rule for rule in rules if any(_lines_crossed(rule, *moves[rule.pk]))]
    levels = {(rule.sku_id, rule.warehouse_id): moves[rule.pk][1] for rule in crossing}
    return demand_stats(tenant=tenant, rules=crossing, levels=levels, consumption=consumption)


def _check_lines(tenant, rule, old, new, stats):
    """Safety stock and reorder point: alert on the downward crossing, recover on the upward one.
    `stats`: the rule's demand_stats when a line is crossed (_crossing_stats)."""
    raised = []
    sku, wh = rule.sku.code, rule.warehouse.code
    crossed_safety, crossed_reorder = _lines_crossed(rule, old, new)
    if crossed_safety or crossed_reorder:
        payload = {"on_hand": new, "safety_stock": rule.safety_stock, "reorder_point": rule.reorder_point,
                   "suggested_quantity": stats["suggested_quantity"], "days_of_cover": stats["days_of_cover"]}
        suggestion = _("Suggested reorder: %(qty)s.") % {"qty": stats["suggested_quantity"]}
    if crossed_safety:
        severity = Severity.CRITICAL if new <= 0 else Severity.WARNING
        alert, created = _raise(
            tenant, rule, "low_stock", severity, f"low_stock:{rule.pk}",
            _("%(sku)s in %(wh)s is below safety stock: %(new)d < %(safety)d") % {
                "sku": sku, "wh": wh, "new": new, "safety": rule.safety_stock},
            suggestion, payload, replenish=True,
        )
        raised += [alert] if created else []
    elif new >= rule.safety_stock > old:
        alerts.alert_recover(tenant=tenant, dedupe_key=f"low_stock:{rule.pk}",
                             note=_("Stock is back above safety stock (%(new)d).") % {"new": new})
    if crossed_reorder:
        alert, created = _raise(
            tenant, rule, "reorder_point", Severity.INFO, f"reorder:{rule.pk}",
            _("%(sku)s in %(wh)s reached its reorder point: %(new)d ≤ %(point)d") % {
                "sku": sku, "wh": wh, "new": new, "point": rule.reorder_point},
            suggestion, payload, replenish=True,
        )
        raised += [alert] if created else []
    elif rule.reorder_point and new > rule.reorder_point >= old:
        alerts.alert_recover(tenant=tenant, dedupe_key=f"reorder:{rule.pk}",
                             note=_("Stock is back above the reorder point (%(new)d).") % {"new": new})
    return raised


def _consumption_query(days, *, tenant_id, sku_ids, warehouse_ids):
    """Units taken out per (sku, warehouse) over the last `days` days (the database's clock)."""
    return (
        StockMovement.objects.for_tenant(tenant_id)
        .filter(sku_id__in=sku_ids, warehouse_id__in=warehouse_ids, delta__lt=0,
                occurred_at__gte=Now() - timedelta(days=days))
        .values("sku_id", "warehouse_id").annotate(used=Sum("delta")).values_list("sku_id", "warehouse_id", "used")
    )


# Asked for every alert a movement raises: compiled once per shape for the few rules a line
# crossing usually concerns (scm_portal.db.templates); larger sets go through the ORM.
_CONSUMPTION = QueryTemplate(_consumption_query)
_CONSUMPTION_COMPILED_MAX = 4


def _consumption_sent(tenant, pairs, days=DEMAND_DAYS):
    """Units taken out over the last `days` days per (sku, warehouse) of `pairs`: sent, answered
    as {pair: units} by the function returned (see scm_portal.db.templates.pipeline)."""
    if not pairs:
        return dict
    sku_ids, warehouse_ids = sorted({s for s, _w in pairs}), sorted({w for _s, w in pairs})
    if len(sku_ids) <= _CONSUMPTION_COMPILED_MAX and len(warehouse_ids) <= _CONSUMPTION_COMPILED_MAX:
        fetch = _CONSUMPTION.send(shape=days, tenant_id=tenant.pk, sku_ids=sku_ids, warehouse_ids=warehouse_ids)
    else:
        rows = list(_consumption_query(days, tenant_id=tenant.pk, sku_ids=sku_ids, warehouse_ids=warehouse_ids))
        fetch = lambda: rows  # noqa: E731
    return lambda: {(sku_id, warehouse_id): -used for sku_id, warehouse_id, used in fetch()}


def demand_stats(*, tenant, rules, levels=None, days=DEMAND_DAYS, consumption=None):
    """Per rule: average daily consumption over `days`, days of cover and a suggested reorder
    quantity. `consumption`: {(sku, warehouse): units} over `days` when already read."""
    if not rules:
        return {}
    if consumption is None:
        consumption = _consumption_sent(tenant, {(r.sku_id, r.warehouse_id) for r in rules}, days)()
    if levels is None:
        levels = {
            (row["sku_id"], row["warehouse_id"]): row["on_hand"]
            for row in StockLevel.objects.for_tenant(tenant)
            .filter(sku_id__in={r.sku_id for r in rules}, warehouse_id__in={r.warehouse_id for r in rules})
            .values("sku_id", "warehouse_id", "on_hand")
        }
    stats = {}
    for rule in rules:
        pair = (rule.sku_id, rule.warehouse_id)
        daily = consumption.get(pair, 0) / days
        on_hand = levels.get(pair, 0)
        target = rule.max_level if rule.max_level is not None else rule.reorder_point + math.ceil(daily * rule.lead_time_days)
        target = max(target, rule.safety_stock)
        stats[rule.pk] = {
            "average_daily_demand": round(daily, 2),
            "days_of_cover": round(on_hand / daily, 1) if daily > 0 else None,
            "suggested_quantity": max(0, target - on_hand),
        }
    return stats


def rules_sweep(*, tenant, now=None):
    """The periodic check (one SQL query per tenant, never a task per SKU).

    Raises the low-stock alerts the inline check could not (a rule created or raised while
    stock was already under it, a level created under its rule's line), then checks consumption
    velocity against its own baseline.
    """
    from alerts.models import Alert

    rules_table, levels_table = ReplenishmentRule._meta.db_table, StockLevel._meta.db_table
    with connection.cursor() as cursor:
        # The below-safety set from the levels alone (their copy of the rule's safety stock: one
        # filtered scan, no join of a million rules), each checked against its rule (a stale copy
        # can only cost a lookup, never raise); then the few without an open alert. `IS TRUE` is
        # the form the planner estimates from the statistics of migration inventory/0003.
        cursor.execute(
            f"""WITH below AS MATERIALIZED (
                    SELECT r.id, l.on_hand FROM {levels_table} l
                    JOIN {rules_table} r ON r.tenant_id = l.tenant_id AND r.sku_id = l.sku_id
                                        AND r.warehouse_id = l.warehouse_id
                    WHERE l.tenant_id = %s AND (l.on_hand < l.rule_safety_stock) IS TRUE
                      AND r.active AND l.on_hand < r.safety_stock)
                SELECT b.id, b.on_hand FROM below b
                WHERE NOT EXISTS (SELECT 1 FROM {Alert._meta.db_table} a
                                  WHERE a.tenant_id = %s AND a.dedupe_key = 'low_stock:' || b.id
                                    AND a.state <> 'resolved')
                ORDER BY b.id LIMIT %s""",
            [tenant.id, tenant.id, SWEEP_RAISE_MAX],
        )
        below = dict(cursor.fetchall())
    raised = []
    rules = _rules_with_relations_sent(tenant, sorted(below))()
    moves = {rule.pk: (rule.safety_stock, below[rule.pk]) for rule in rules}  # as if it just fell below
    stats = _crossing_stats(tenant, rules, moves)
    with tenant_language(tenant):
        for rule in rules:
            raised += _check_lines(tenant, rule, *moves[rule.pk], stats.get(rule.pk))
        raised += _check_velocity(tenant, now or timezone.now())
    return raised


def _check_velocity(tenant, now):
    """Consumption in the recent window far above the same SKU's own baseline (previous 7 days)."""
    from django.db.models import Q, Sum

    rules = list(
        ReplenishmentRule.objects.for_tenant(tenant).filter(active=True, velocity_factor__isnull=False)
        .select_related("sku__default_supplier", "warehouse", "supplier")
    )
    if not rules:
        return []
    window_hours = {r.pk: r.velocity_window_hours for r in rules}
    longest = max(window_hours.values())
    baseline_start = now - timedelta(days=7)
    rows = (
        StockMovement.objects.for_tenant(tenant)
        .filter(sku_id__in={r.sku_id for r in rules}, warehouse_id__in={r.warehouse_id for r in rules},
                occurred_at__gte=baseline_start, delta__lt=0)
        .values("sku_id", "warehouse_id")
        .annotate(
            recent=Sum("delta", filter=Q(occurred_at__gte=now - timedelta(hours=longest))),
            total=Sum("delta"),
        )
    )
    usage = {(r["sku_id"], r["warehouse_id"]): (-(r["recent"] or 0), -(r["total"] or 0)) for r in rows}
    from alerts.models import Alert

    open_keys = set(
        Alert.objects.for_tenant(tenant).filter(dedupe_key__startswith="velocity:").exclude(state="resolved")
        .values_list("dedupe_key", flat=True)
    )
    raised = []
    for rule in rules:
        recent, total = usage.get((rule.sku_id, rule.warehouse_id), (0, 0))
        hours = rule.velocity_window_hours
        baseline_per_window = (total - recent) / max(1, (7 * 24 - longest)) * hours
        anomalous = recent >= 10 and recent > float(rule.velocity_factor) * max(baseline_per_window, 1)
        key = f"velocity:{rule.pk}"
        if anomalous:
            alert, created = _raise(
                tenant, rule, "velocity", Severity.WARNING, key,
                _("%(sku)s in %(wh)s is being used unusually fast: %(recent)d in %(hours)dh (usual ≈ %(usual).0f)") % {
                    "sku": rule.sku.code, "wh": rule.warehouse.code, "recent": recent, "hours": hours,
                    "usual": baseline_per_window},
                "", {"recent": recent, "baseline": round(baseline_per_window, 1)},
            )
            raised += [alert] if created else []
        elif key in open_keys:  # recover only what is open: one query for all rules, not one each
            alerts.alert_recover(tenant=tenant, dedupe_key=key, note=_("Consumption is back to its usual pace."))
    return raised


# --- replenishment -----------------------------------------------------------------------------

@transaction.atomic
def replenishment_request_create(*, tenant, actor, sku, warehouse, quantity, supplier=None, alert_id=None):
    roles = set(Membership.objects.active().filter(user=actor, tenant=tenant).values_list("role", flat=True))
    if not roles & REPLENISHERS:
        raise PermissionDenied(_("Your role may not arrange replenishment."))
    if not isinstance(quantity, int) or quantity <= 0:
        raise ValidationError({"quantity": _("The quantity must be a positive whole number.")})
    return ReplenishmentRequest.objects.create(
        tenant=tenant, sku=sku, warehouse=warehouse, supplier=supplier, quantity=quantity, alert_id=alert_id, requested_by=actor
    )


def _replenish_button(*, tenant, actor, message, room):
    """"安排补货": a replenishment request for the supplier with the suggested quantity."""
    payload = message.payload or {}
    rule = ReplenishmentRule.objects.for_tenant(tenant).filter(pk=payload.get("rule")).select_related(
        "sku__default_supplier", "warehouse", "supplier").first()
    if rule is None:
        raise ValidationError({"action": _("The rule behind this alert no longer exists.")})
    stats = demand_stats(tenant=tenant, rules=[rule])[rule.pk]
    quantity = max(stats["suggested_quantity"], rule.step or 0, 1)
    supplier = _supplier_of(rule)
    request = replenishment_request_create(tenant=tenant, actor=actor, sku=rule.sku, warehouse=rule.warehouse,
                                           quantity=quantity, supplier=supplier, alert_id=payload.get("alert"))
    who = actor.get_full_name() or actor.username
    with tenant_language(tenant):
        text = _("%(who)s arranged replenishment of %(qty)d %(unit)s of %(sku)s for %(wh)s (request #%(id)d).") % {
            "who": who, "qty": quantity, "unit": rule.sku.unit, "sku": rule.sku.code, "wh": rule.warehouse.code, "id": request.pk}
    return {"message": text, "data": {"replenishment_request": request.pk, "quantity": quantity}}


registry.register_action("inventory_replenish", label="安排补货 / Arrange replenishment", handler=_replenish_button)
