"""Every write to inventory records, and the rules that turn stock changes into alerts.

The movement path is set-based: one validation pass, one multi-row INSERT ... ON CONFLICT
DO NOTHING per thousand rows (duplicates are counted, never applied), one upsert of the
touched stock levels (in a fixed order, so concurrent batches cannot deadlock and totals
stay exact), and one rule query for the batch. Never a loop of save().
"""

import math
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from inventory.models import SKU, ReplenishmentRequest, ReplenishmentRule, StockLevel, StockMovement, Warehouse
from messaging import alerts, registry
from messaging.models import Severity
from scm_portal.errors import StructuredValidationError
from scm_portal.tenancy.models import Membership
from scm_portal.tenancy.selectors import tenant_language
from scm_portal.tenancy.roles import Role

MOVEMENT_BATCH_MAX = 5000
MOVEMENT_FIELDS = {"external_id", "sku", "warehouse", "delta", "reason", "occurred_at"}
DELTA_LIMIT = 10**12
INSERT_CHUNK = 1000
SWEEP_RAISE_MAX = 1000  # alerts a sweep raises per tenant at most; the next sweep continues
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


@transaction.atomic
def rule_upsert(*, tenant, actor, sku, warehouse, **values):
    """Creates or updates the rule of a SKU in a warehouse; then checks the current stock against it."""
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

def _parse_when(raw):
    if not isinstance(raw, str):
        return None
    try:
        return datetime.fromisoformat(raw)  # C-fast for the common ISO 8601 forms
    except ValueError:
        try:
            return parse_datetime(raw)
        except ValueError:
            return None


def _row_errors(row, skus, warehouses, tz, now):
    if not isinstance(row, dict):
        return {"non_field_errors": [_("Each movement is an object.")]}, None
    errors = {}
    for key in row:
        if key not in MOVEMENT_FIELDS:
            errors[str(key)] = [_("Unknown field.")]
    external_id = row.get("external_id")
    if not isinstance(external_id, str) or not 1 <= len(external_id) <= 100:
        errors["external_id"] = [_("external_id is a string of 1 to 100 characters.")]
    sku_id = skus.get(row.get("sku")) if isinstance(row.get("sku"), str) else None
    if sku_id is None:
        errors["sku"] = [_("No such SKU.")]
    warehouse_id = warehouses.get(row.get("warehouse")) if isinstance(row.get("warehouse"), str) else None
    if warehouse_id is None:
        errors["warehouse"] = [_("No such warehouse.")]
    delta = row.get("delta")
    if not isinstance(delta, int) or isinstance(delta, bool) or delta == 0 or abs(delta) > DELTA_LIMIT:
        errors["delta"] = [_("delta is a non-zero whole number.")]
    reason = row.get("reason", "")
    if not isinstance(reason, str) or len(reason) > 50:
        errors["reason"] = [_("reason is a string of at most 50 characters.")]
    occurred_at = _parse_when(row.get("occurred_at"))
    if occurred_at is None:
        errors["occurred_at"] = [_("occurred_at is an ISO 8601 date and time.")]
    else:
        if timezone.is_naive(occurred_at):
            occurred_at = timezone.make_aware(occurred_at, tz)
        if occurred_at > now + timedelta(days=1):
            errors["occurred_at"] = [_("occurred_at is in the future.")]
    if errors:
        return errors, None
    return None, (external_id, sku_id, warehouse_id, delta, reason, occurred_at)


def _ids_by_code(model, tenant, codes, extra=""):
    """{code: id} of one tenant's rows (an array parameter on PostgreSQL: a thousand codes, one placeholder)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT code, id FROM {model._meta.db_table} WHERE tenant_id = %s AND code = ANY(%s) {extra}",
                [tenant.id, list(codes)],
            )
            return dict(cursor.fetchall())
    queryset = model.objects.for_tenant(tenant).filter(code__in=codes)
    if extra:
        queryset = queryset.filter(active=True)
    return dict(queryset.values_list("code", "id"))


def check_movement_rows(*, tenant, rows):
    """Clean rows, or a ValidationError naming every bad row by its index."""
    if isinstance(rows, dict):
        rows = [rows]
    if not isinstance(rows, list) or not rows:
        raise ValidationError({"rows": _("Send one movement object or a non-empty list of them.")})
    if len(rows) > MOVEMENT_BATCH_MAX:
        raise ValidationError({"rows": _("At most %(max)d movements per request.") % {"max": MOVEMENT_BATCH_MAX}})
    sku_codes = {r.get("sku") for r in rows if isinstance(r, dict) and isinstance(r.get("sku"), str)}
    wh_codes = {r.get("warehouse") for r in rows if isinstance(r, dict) and isinstance(r.get("warehouse"), str)}
    skus = _ids_by_code(SKU, tenant, sku_codes)
    warehouses = _ids_by_code(Warehouse, tenant, wh_codes, extra="AND active")
    import zoneinfo

    try:
        tz = zoneinfo.ZoneInfo(tenant.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        tz = timezone.get_default_timezone()
    now = timezone.now()
    clean, errors = [], {}
    for index, row in enumerate(rows):
        row_errors, value = _row_errors(row, skus, warehouses, tz, now)
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


def _insert_movements(tenant, rows, source):
    """Inserts new movements; returns (sku_id, warehouse_id, delta) of those actually inserted."""
    table = StockMovement._meta.db_table
    columns = "tenant_id, external_id, sku_id, warehouse_id, delta, reason, occurred_at, source, created_at"
    conflict = "ON CONFLICT (tenant_id, external_id) DO NOTHING RETURNING sku_id, warehouse_id, delta"
    now = timezone.now()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One statement with nine array parameters: no per-row placeholders to build or parse.
            external_ids, sku_ids, warehouse_ids, deltas, reasons, occurred = (list(col) for col in zip(*rows))
            cursor.execute(
                f"INSERT INTO {table} ({columns}) SELECT %s, e, s, w, d, r, o, %s, %s FROM "
                f"unnest(%s::text[], %s::bigint[], %s::bigint[], %s::bigint[], %s::text[], %s::timestamptz[]) "
                f"AS t(e, s, w, d, r, o) {conflict}",
                [tenant.id, source, now, external_ids, sku_ids, warehouse_ids, deltas, reasons, occurred],
            )
            return cursor.fetchall()
        adapt = connection.ops.adapt_datetimefield_value
        inserted = []
        for start in range(0, len(rows), INSERT_CHUNK):
            chunk = rows[start:start + INSERT_CHUNK]
            params = []
            for external_id, sku_id, warehouse_id, delta, reason, occurred_at in chunk:
                params += [tenant.id, external_id, sku_id, warehouse_id, delta, reason, adapt(occurred_at), source, adapt(now)]
            values = ",".join(["(%s,%s,%s,%s,%s,%s,%s,%s,%s)"] * len(chunk))
            cursor.execute(f"INSERT INTO {table} ({columns}) VALUES {values} {conflict}", params)
            inserted += cursor.fetchall()
    return inserted


def _apply_to_levels(tenant, totals):
    """Adds each (sku, warehouse) total to its stock level; returns [(sku, warehouse, old, new)]."""
    if not totals:
        return []
    table = StockLevel._meta.db_table
    keys = sorted(totals)  # one fixed lock order for every batch
    upsert = (
        f"ON CONFLICT (tenant_id, sku_id, warehouse_id) DO UPDATE SET on_hand = {table}.on_hand + excluded.on_hand, "
        f"updated_at = excluded.updated_at RETURNING sku_id, warehouse_id, on_hand"
    )
    now = timezone.now()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"INSERT INTO {table} (tenant_id, sku_id, warehouse_id, on_hand, updated_at) "
                f"SELECT %s, s, w, d, %s FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[]) WITH ORDINALITY AS t(s, w, d, n) "
                f"ORDER BY n {upsert}",
                [tenant.id, now, [k[0] for k in keys], [k[1] for k in keys], [totals[k] for k in keys]],
            )
        else:
            params = []
            for sku_id, warehouse_id in keys:
                params += [tenant.id, sku_id, warehouse_id, totals[(sku_id, warehouse_id)], connection.ops.adapt_datetimefield_value(now)]
            values = ",".join(["(%s,%s,%s,%s,%s)"] * len(keys))
            cursor.execute(f"INSERT INTO {table} (tenant_id, sku_id, warehouse_id, on_hand, updated_at) VALUES {values} {upsert}", params)
        rows = cursor.fetchall()
    return [(sku_id, wh_id, on_hand - totals[(sku_id, wh_id)], on_hand) for sku_id, wh_id, on_hand in rows]


@transaction.atomic
def stock_movements_ingest(*, tenant, actor, rows, source="api"):
    """Applies a batch of movements exactly once each; returns {"created", "duplicates"}.

    A batch with any bad row changes nothing (ValidationError listing every bad row).
    """
    clean = check_movement_rows(tenant=tenant, rows=rows)
    unique, seen = [], set()
    for row in clean:
        if row[0] not in seen:
            seen.add(row[0])
            unique.append(row)
    inserted = _insert_movements(tenant, unique, source)
    totals = {}
    for sku_id, warehouse_id, delta in inserted:
        totals[(sku_id, warehouse_id)] = totals.get((sku_id, warehouse_id), 0) + delta
    changes = _apply_to_levels(tenant, totals)
    with tenant_language(tenant):
        rules_apply(tenant=tenant, changes=changes)
    return {"created": len(inserted), "duplicates": len(clean) - len(inserted)}


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


def rules_apply(*, tenant, changes):
    """Checks each (sku, warehouse, old, new) against its rule: O(1) per change, one query per batch."""
    if not changes:
        return []
    by_pair = {(s, w): (old, new) for s, w, old, new in changes}
    rules = list(
        ReplenishmentRule.objects.filter(pk__in=_rule_ids_for(tenant, by_pair))
        .select_related("sku__default_supplier", "warehouse", "supplier")
    )
    raised, moved_references = [], []
    for rule in rules:
        pair = (rule.sku_id, rule.warehouse_id)
        if pair not in by_pair:
            continue
        old, new = by_pair[pair]
        raised += _check_step(tenant, rule, old, new, moved_references)
        raised += _check_lines(tenant, rule, old, new)
    if moved_references:
        ReplenishmentRule.objects.bulk_update(moved_references, ["step_reference"])
    return raised


def _rule_ids_for(tenant, pairs):
    """Ids of the active rules of these pairs ({(sku, warehouse): (old, new)}) that have work to do.

    On PostgreSQL the crossing tests run in the query itself, so a batch that crosses no line
    loads no rule at all (they mirror _check_lines and _check_step below)."""
    table = ReplenishmentRule._meta.db_table
    if connection.vendor == "postgresql":
        keys = list(pairs)
        with connection.cursor() as cursor:
            cursor.execute(
                f"""SELECT r.id FROM {table} r
                    JOIN unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[]) AS p(s, w, old, new)
                      ON r.sku_id = p.s AND r.warehouse_id = p.w
                    WHERE r.tenant_id = %s AND r.active AND (
                         (p.new < r.safety_stock AND r.safety_stock <= p.old)
                      OR (p.new >= r.safety_stock AND r.safety_stock > p.old)
                      OR (r.reorder_point > 0 AND p.new <= r.reorder_point AND r.reorder_point < p.old)
                      OR (r.reorder_point > 0 AND p.new > r.reorder_point AND r.reorder_point >= p.old)
                      OR (r.step IS NOT NULL AND (r.step_reference IS NULL OR p.new > r.step_reference
                                                  OR r.step_reference - p.new >= r.step)))""",
                [[k[0] for k in keys], [k[1] for k in keys], [pairs[k][0] for k in keys], [pairs[k][1] for k in keys],
                 tenant.id],
            )
            return [row[0] for row in cursor.fetchall()]
    candidates = ReplenishmentRule.objects.for_tenant(tenant).filter(
        active=True, sku_id__in={s for s, _w in pairs}).values_list("pk", "sku_id", "warehouse_id")
    return [pk for pk, sku_id, warehouse_id in candidates if (sku_id, warehouse_id) in pairs]


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


def _check_lines(tenant, rule, old, new):
    """Safety stock and reorder point: alert on the downward crossing, recover on the upward one.

    Demand statistics are read only when a line is crossed, never for every change."""
    raised = []
    sku, wh = rule.sku.code, rule.warehouse.code
    crossed_safety = new < rule.safety_stock <= old
    crossed_reorder = bool(rule.reorder_point) and new <= rule.reorder_point < old and new >= rule.safety_stock
    if crossed_safety or crossed_reorder:
        stats = demand_stats(tenant=tenant, rules=[rule], levels={(rule.sku_id, rule.warehouse_id): new})[rule.pk]
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


def demand_stats(*, tenant, rules, levels=None, days=14):
    """Per rule: average daily consumption over `days`, days of cover and a suggested reorder quantity."""
    from django.db.models import Sum

    if not rules:
        return {}
    since = timezone.now() - timedelta(days=days)
    consumption = {
        (row["sku_id"], row["warehouse_id"]): -row["used"]
        for row in StockMovement.objects.for_tenant(tenant)
        .filter(sku_id__in={r.sku_id for r in rules}, warehouse_id__in={r.warehouse_id for r in rules},
                occurred_at__gte=since, delta__lt=0)
        .values("sku_id", "warehouse_id").annotate(used=Sum("delta"))
    }
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
    stock was already under it), then checks consumption velocity against its own baseline.
    """
    from messaging.models import Alert

    rules_table, levels_table = ReplenishmentRule._meta.db_table, StockLevel._meta.db_table
    with connection.cursor() as cursor:
        # The below-safety set first (one hash join), then the few without an open alert: asking
        # per rule in id order made the planner probe two indexes a million times.
        cursor.execute(
            f"""WITH below AS MATERIALIZED (
                    SELECT r.id, l.on_hand FROM {rules_table} r
                    JOIN {levels_table} l ON l.tenant_id = r.tenant_id AND l.sku_id = r.sku_id
                                         AND l.warehouse_id = r.warehouse_id
                    WHERE r.tenant_id = %s AND r.active AND l.on_hand < r.safety_stock)
                SELECT b.id, b.on_hand FROM below b
                WHERE NOT EXISTS (SELECT 1 FROM {Alert._meta.db_table} a
                                  WHERE a.tenant_id = %s AND a.dedupe_key = 'low_stock:' || b.id
                                    AND a.state <> 'resolved')
                ORDER BY b.id LIMIT %s""",
            [tenant.id, tenant.id, SWEEP_RAISE_MAX],
        )
        below = dict(cursor.fetchall())
    raised = []
    rules = ReplenishmentRule.objects.filter(pk__in=below).select_related("sku__default_supplier", "warehouse", "supplier")
    with tenant_language(tenant):
        for rule in rules:
            raised += _check_lines(tenant, rule, rule.safety_stock, below[rule.pk])
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
    from messaging.models import Alert

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
