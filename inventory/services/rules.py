"""Replenishment rules: their writes, the checks that turn stock changes into alerts (per
batch and in the periodic sweep), and replenishment requests ("安排补货")."""

import logging
import math
from datetime import timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Sum
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from alerts import services as alerts
from alerts.actions import card_rooms
from alerts.lock_objects import alert_lock
from alerts.models import AlertState, Severity
from audit.services import audit_record
from inventory.lock_objects import (
    rule_crossings_claim_sent,
    skus_lock,
    skus_lock_sent,
    stock_alert_rooms_lock_sent,
    stock_levels_lock,
)
from inventory.models import (
    SKU,
    ReplenishmentRequest,
    ReplenishmentRule,
    RuleCrossing,
    StockLevel,
    StockMovement,
    Warehouse,
)
from messaging import registry
from messaging.texts import Text
from scm_portal.db.templates import pipeline
from scm_portal.errors import StateConflict
from scm_portal.tenancy.context import check_context
from scm_portal.tenancy.models import Organization, Tenant
from scm_portal.tenancy.roles import Role
from scm_portal.tenancy.selectors import tenant_language

logger = logging.getLogger(__name__)

SWEEP_RAISE_MAX = 1000  # alerts a sweep raises per tenant at most; the next sweep continues
DEMAND_DAYS = 14  # recent demand: the window of average daily consumption
# Core roles that may arrange a replenishment ("安排补货" on a stock alert's card).
REPLENISHERS = {Role.WAREHOUSE, Role.PLANNER, Role.BUYER, Role.COORDINATOR}
# Core roles a stock alert is addressed to: of the staff who follow its supplier, they see its
# cards in the supplier's room and the internal room, and are notified. Everyone who may press
# its replenish button, and logistics, who dispatch the delivery that refills the stock
# (escalation policies add more).
STOCK_ALERT_AUDIENCE = tuple(sorted(REPLENISHERS | {Role.LOGISTICS}))


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
# (inventory.lock_objects), so whichever comes second sees what the first committed.


@transaction.atomic
def rule_upsert(*, tenant, actor, sku, warehouse, **values):
    """Creates or updates the rule of a SKU in a warehouse; then checks the current stock against it."""
    # The lock order (docs/ARCHITECTURE.md): the SKU, then its rule and levels. The trigger locks
    # the SKU too, but only after the rule row: a batch stepping this rule could deadlock with that.
    skus_lock([sku.pk])
    rule = ReplenishmentRule.objects.for_tenant(tenant).filter(sku=sku, warehouse=warehouse).first()
    before = _rule_audited(rule) if rule else None
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
    audit_record(tenant=tenant, actor=actor, action="replenishment_rule." + ("update" if before else "create"),
                 object_kind="replenishment_rule", object_ref=f"{sku.code}@{warehouse.code}", before=before,
                 after=_rule_audited(rule))
    return rule


def _rule_audited(rule):
    """What the audit log keeps of a rule: its lines and supplier."""
    return {"safety_stock": rule.safety_stock, "reorder_point": rule.reorder_point, "max_level": rule.max_level,
            "step": rule.step, "supplier_id": rule.supplier_id, "active": rule.active}


# --- movements ---------------------------------------------------------------------------------

# What an occurred_at string parsed to, besides a datetime (each distinct string is parsed once per batch).


def _supplier_of(rule):
    return rule.supplier if rule.supplier_id else rule.sku.default_supplier


def _raise(tenant, rule, kind, severity, key, payload, replenish=False):
    """The kind's `render` (inventory.texts) says its title and body, from the payload."""
    return alerts.alert_raise(
        tenant=tenant, kind=kind, severity=severity, dedupe_key=key,
        subject_kind="sku", subject_ref=rule.sku.code, partner=_supplier_of(rule), core_audience=STOCK_ALERT_AUDIENCE,
        payload={"sku": rule.sku.code, "warehouse": rule.warehouse.code, "rule": rule.pk, **payload},
        extra_actions=("inventory_replenish",) if replenish else (),
    )


def rule_check_moves(tenant, moves, *, rooms_held=True):
    """Checks the rules {rule id: (old level, new level)} and raises their alerts. The recent
    demand of the rules whose lines are crossed is read in one query for the batch.

    `rooms_held`: whether the caller holds the rooms their alerts may post to (the lock order:
    rooms before the crossings, the levels and the alerts). Without them, a move that raises or
    recovers an alert raises _RoomsNeeded before anything is written."""
    if not moves:
        return []
    rules = _rules_with_relations(tenant, moves)
    if not rooms_held and any(_owes_alert(rule, *moves[rule.pk]) for rule in rules):
        raise _RoomsNeeded
    stats = _crossing_stats(tenant, rules, moves)
    raised, moved_references = [], []
    for rule in rules:
        old, new = moves[rule.pk]
        raised += _check_step(tenant, rule, old, new, moved_references)
        raised += _check_lines(tenant, rule, old, new, stats.get(rule.pk))
    if moved_references:
        ReplenishmentRule.objects.bulk_update(moved_references, ["step_reference"])
    return raised


class _RoomsNeeded(Exception):
    """Crossings claimed without their rooms' locks owe an alert: claimed again, rooms first."""


def _owes_alert(rule, old, new):
    """Whether the move raises or recovers one of the rule's alerts (needing its rooms), rather
    than only moving its step reference: the Python twin of movements._RULE_ALERTING_SQL."""
    crossed_safety, crossed_reorder = _lines_crossed(rule, old, new)
    if crossed_safety or crossed_reorder or new >= rule.safety_stock > old:
        return True
    if rule.reorder_point and new > rule.reorder_point >= old:
        return True
    reference = rule.step_reference if rule.step_reference is not None else old
    return bool(rule.step) and reference - new >= rule.step


# A crossing older than this was left by a batch whose second transaction failed or never ran:
# the sweep raises it (a batch's own follows its commit within milliseconds).
CROSSING_SWEEP_AFTER = timedelta(seconds=30)


def rule_crossing_raise(*, tenant, rule_ids, sku_ids=None, warehouse_ids=None, rooms=True, skip_locked=False):
    """Raises (or recovers) the alerts of the crossings waiting in the outbox (RuleCrossing) for
    these rules, each rule's in the order they were made, and deletes them; returns how many.

    The second transaction of a movement batch (movements.stock_movement_ingest), and the sweep's
    (rule_crossing_sweep). Its locks, in the portal's order (docs/ARCHITECTURE.md, "Lock
    order"): the rooms the rules' alerts may post to (as the batch used to before its SKUs:
    stock_alert_rooms_lock_sent over `sku_ids` and `warehouse_ids`, the rules' own), their SKUs
    FOR KEY SHARE (no rule write meanwhile: the step references are written under them), the
    crossings FOR UPDATE in id order (a concurrent raiser of the same rule waits, then finds them
    gone: each is raised once; inventory.lock_objects.rule_crossings_claim_sent locks and deletes
    them in one statement), then the alerts, then the rules' step references.

    `rooms=False` (no crossing of the batch owes an alert, as its statement judged): no room is
    locked; should the crossings claimed owe one after all (an older one left for these rules, a
    rule written since), the transaction is rolled back and run again with the rooms. A
    repeated raise is a no-op anyway: an alert's dedupe key allows one unresolved alert per
    condition, and a recovery finds nothing open."""
    rule_ids = sorted(set(rule_ids))
    if not rule_ids:
        return 0
    if sku_ids is None or warehouse_ids is None:
        pairs = list(ReplenishmentRule.objects.for_tenant(tenant).filter(pk__in=rule_ids)
                     .values_list("sku_id", "warehouse_id"))
        sku_ids, warehouse_ids = [s for s, _w in pairs], [w for _s, w in pairs]
    sku_ids, warehouse_ids = sorted(set(sku_ids)), sorted(set(warehouse_ids))
    if not rooms:
        try:
            return _crossings_raise(tenant, rule_ids, sku_ids, warehouse_ids, False, skip_locked)
        except _RoomsNeeded:
            pass
    return _crossings_raise(tenant, rule_ids, sku_ids, warehouse_ids, True, skip_locked)


@transaction.atomic
def _crossings_raise(tenant, rule_ids, sku_ids, warehouse_ids, rooms, skip_locked):
    """rule_crossing_raise's transaction."""
    with pipeline():  # the locks and the claim share one round trip
        room_locks = stock_alert_rooms_lock_sent(tenant_id=tenant.pk, sku_ids=sku_ids, warehouse_ids=warehouse_ids,
                                                 using=connection.alias) if rooms else None
        sku_locks = skus_lock_sent(sku_ids, key_share=True)
        claim = rule_crossings_claim_sent(tenant_id=tenant.pk, rule_ids=rule_ids, skip_locked=skip_locked)
        if room_locks:
            room_locks()
        sku_locks()
        claimed = claim()  # locked and deleted: raised below, in this transaction, or rolled back with it
    if not claimed:
        return 0
    pending = {}
    for _pk, rule_id, old, new in claimed:
        pending.setdefault(rule_id, []).append((old, new))
    with tenant_language(tenant):
        while pending:  # a rule's crossings one after the other: its step reference moves with each
            rule_check_moves(tenant, {rule_id: moves.pop(0) for rule_id, moves in pending.items()}, rooms_held=rooms)
            pending = {rule_id: moves for rule_id, moves in pending.items() if moves}
    return len(claimed)


def rule_crossing_sweep(*, now=None, batch_size=500):
    """Raises the crossings a movement batch left in the outbox (its second transaction failed, or
    its process died before it), older than CROSSING_SWEEP_AFTER: per tenant, a batch of rules
    at a time (rule_crossing_raise, SKIP LOCKED: what a batch is raising now is left to it).
    Returns how many crossings were raised."""
    cutoff = (now or timezone.now()) - CROSSING_SWEEP_AFTER
    due = RuleCrossing.objects.filter(created_at__lte=cutoff)
    done = 0
    for tenant in Tenant.objects.filter(pk__in=due.values("tenant_id")).order_by("pk"):
        seen = set()
        while True:
            rule_ids = list(due.filter(tenant=tenant).exclude(rule_id__in=seen).order_by("rule_id")
                            .values_list("rule_id", flat=True).distinct()[:batch_size])
            if not rule_ids:
                break
            seen.update(rule_ids)
            try:
                done += rule_crossing_raise(tenant=tenant, rule_ids=rule_ids, skip_locked=True)
            except Exception:  # left for the next sweep; the other rules and tenants go on
                logger.exception("Stock rule crossings of tenant %s not raised", tenant.pk)
    return done


# What the rule checks read of a rule and of what its alerts name (its SKU's code, its warehouse's,
# its supplier's or else its SKU's default one's slug): one row each, made into instances with
# Model.from_db, the rest deferred. Not select_related(): building its joined instances and
# ordering them in SQL were most of the ~3 ms of CPU this read cost each alerting batch (cProfile).
_RULE_FIELDS = ("id", "sku_id", "warehouse_id", "supplier_id", "safety_stock", "reorder_point", "max_level", "step",
                "step_reference", "lead_time_days")
_RULE_RELATED = ("sku__code", "sku__default_supplier_id", "warehouse__code", "supplier__slug",
                 "sku__default_supplier__slug")


def _rules_with_relations(tenant, ids):
    """The active rules `ids` of the tenant, in id order, with what their alerts name: their SKU,
    warehouse and supplier (or the SKU's default one)."""
    rows = (ReplenishmentRule.objects.for_tenant(tenant).filter(pk__in=list(ids), active=True)
            .values_list(*_RULE_FIELDS, *_RULE_RELATED))
    using = rows.db
    rules = []
    for row in sorted(rows):
        rule = ReplenishmentRule.from_db(using, _RULE_FIELDS, row[:len(_RULE_FIELDS)])
        sku_code, default_supplier_id, warehouse_code, supplier_slug, default_supplier_slug = row[len(_RULE_FIELDS):]
        rule.sku = SKU.from_db(using, ("id", "code", "default_supplier_id"), (rule.sku_id, sku_code, default_supplier_id))
        if default_supplier_id is not None:
            rule.sku.default_supplier = Organization.from_db(using, ("id", "slug"), (default_supplier_id, default_supplier_slug))
        rule.warehouse = Warehouse.from_db(using, ("id", "code"), (rule.warehouse_id, warehouse_code))
        if rule.supplier_id is not None:
            rule.supplier = Organization.from_db(using, ("id", "slug"), (rule.supplier_id, supplier_slug))
        rules.append(rule)
    return rules


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
                {"boundary": boundary, "on_hand": new, "step": rule.step},
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


def _crossing_stats(tenant, rules, moves):
    """rule_demand_stats of the rules whose lines their move {rule id: (old, new)} crosses, in one
    read: never for every change."""
    crossing = [rule for rule in rules if any(_lines_crossed(rule, *moves[rule.pk]))]
    levels = {(rule.sku_id, rule.warehouse_id): moves[rule.pk][1] for rule in crossing}
    return rule_demand_stats(tenant=tenant, rules=crossing, levels=levels)


def _check_lines(tenant, rule, old, new, stats):
    """Safety stock and reorder point: alert on the downward crossing, recover on the upward one.
    `stats`: its rule_demand_stats when a line is crossed (_crossing_stats)."""
    raised = []
    crossed_safety, crossed_reorder = _lines_crossed(rule, old, new)
    if crossed_safety or crossed_reorder:
        payload = {"on_hand": new, "safety_stock": rule.safety_stock, "reorder_point": rule.reorder_point,
                   "suggested_quantity": stats["suggested_quantity"], "days_of_cover": stats["days_of_cover"]}
    if crossed_safety:
        severity = Severity.CRITICAL if new <= 0 else Severity.WARNING
        alert, created = _raise(tenant, rule, "low_stock", severity, f"low_stock:{rule.pk}", payload, replenish=True)
        raised += [alert] if created else []
    elif new >= rule.safety_stock > old:
        alerts.alert_recover(tenant=tenant, dedupe_key=f"low_stock:{rule.pk}",
                             note=Text("inventory.recovered.low_stock", {"new": new}))
    if crossed_reorder:
        alert, created = _raise(tenant, rule, "reorder_point", Severity.INFO, f"reorder:{rule.pk}", payload, replenish=True)
        raised += [alert] if created else []
    elif rule.reorder_point and new > rule.reorder_point >= old:
        alerts.alert_recover(tenant=tenant, dedupe_key=f"reorder:{rule.pk}",
                             note=Text("inventory.recovered.reorder_point", {"new": new}))
    return raised


def _consumption(tenant, pairs, days=DEMAND_DAYS):
    """Units taken out per (sku, warehouse) of `pairs` over the last `days` days (the database's clock)."""
    if not pairs:
        return {}
    if len(pairs) == 1:  # a batch's usual crossing: equality, not lists, for the ORM to build
        ((sku_id, warehouse_id),) = pairs
        movements = StockMovement.objects.filter(tenant_id=tenant.pk, sku_id=sku_id, warehouse_id=warehouse_id)
    else:
        movements = StockMovement.objects.filter(tenant_id=tenant.pk, sku_id__in=sorted({s for s, _w in pairs}),
                                                 warehouse_id__in=sorted({w for _s, w in pairs}))
    rows = (movements.filter(delta__lt=0, occurred_at__gte=Now() - timedelta(days=days))
            .values_list("sku_id", "warehouse_id").annotate(used=Sum("delta")))
    return {(sku_id, warehouse_id): -used for sku_id, warehouse_id, used in rows}


def rule_demand_stats(*, tenant, rules, levels=None, days=DEMAND_DAYS):
    """Per rule: average daily consumption over `days`, days of cover and a suggested reorder
    quantity. `levels`: {(sku, warehouse): on_hand} when known (else read)."""
    if not rules:
        return {}
    consumption = _consumption(tenant, {(r.sku_id, r.warehouse_id) for r in rules}, days)
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


def rule_sweep(*, tenant, now=None):
    """The periodic check (one SQL query per tenant, never a task per SKU).

    Raises the low-stock alerts the inline check could not (a rule created or raised while
    stock was already under it, a level created under its rule's line), then checks consumption
    velocity against its own baseline.
    """
    from alerts.models import Alert

    rules_table, levels_table = ReplenishmentRule._meta.db_table, StockLevel._meta.db_table
    # One SQL statement, not the ORM: the below-safety set comes first, from the levels alone (a
    # MATERIALIZED CTE, which the ORM cannot write; without it the planner walks every rule in id
    # order under the LIMIT). 10^6 levels: 0.066 s, against 0.517 s for the join of every rule with
    # its level (bench/STOCK.md, part 3).
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
    rules = _rules_with_relations(tenant, below)
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
                {"recent": recent, "baseline": round(baseline_per_window, 1), "hours": hours},
            )
            raised += [alert] if created else []
        elif key in open_keys:  # recover only what is open: one query for all rules, not one each
            alerts.alert_recover(tenant=tenant, dedupe_key=key, note=Text("inventory.recovered.velocity"))
    return raised


# --- replenishment -----------------------------------------------------------------------------

@transaction.atomic
def replenishment_request_create(*, tenant, actor, context, sku, warehouse, quantity, supplier=None, alert_id=None):
    """`context`: the actor's TenantContext in the tenant; their roles decide whether they may."""
    if not check_context(context, tenant=tenant, user=actor).roles & REPLENISHERS:
        raise PermissionDenied(_("Your role may not arrange replenishment."))
    if not isinstance(quantity, int) or quantity <= 0:
        raise ValidationError({"quantity": _("The quantity must be a positive whole number.")})
    return ReplenishmentRequest.objects.create(
        tenant=tenant, sku=sku, warehouse=warehouse, supplier=supplier, quantity=quantity, alert_id=alert_id, requested_by=actor
    )


def _replenish_button(*, tenant, actor, message, room, context):
    """"安排补货": a replenishment request for the supplier with the suggested quantity, one per alert.

    Its locks follow the portal's order (docs/ARCHITECTURE.md): the rooms of the alert's cards
    (action_press locks them, as registered), the rule's SKU FOR KEY SHARE, its stock level FOR
    SHARE, then the alert. So the quantity comes from the rule and the stock as they stand when
    the request commits (a rule write or a movement batch on the SKU waits for the press, or the
    press for it), and a press on the alert's other card finds the request made."""
    payload = message.payload or {}
    rules = ReplenishmentRule.objects.for_tenant(tenant).filter(pk=payload.get("rule"))
    sku_id = rules.values_list("sku_id", flat=True).first()
    if sku_id is not None:
        skus_lock([sku_id], key_share=True)
    rule = rules.select_related("sku__default_supplier", "warehouse", "supplier").first()  # as it stands under the lock
    if rule is None:
        raise ValidationError({"action": _("The rule behind this alert no longer exists.")})
    pair = (rule.sku_id, rule.warehouse_id)
    on_hand = stock_levels_lock(tenant_id=tenant.id, pairs=[pair]).get(pair, 0)
    alert_id = payload.get("alert")
    if alert_id is not None:
        alert_lock(alert_id, tenant=tenant)
        made = ReplenishmentRequest.objects.for_tenant(tenant).filter(alert_id=alert_id).values_list("pk", flat=True).first()
        if made is not None:
            raise StateConflict(_("Replenishment was already arranged for this alert (request #%(id)d).") % {"id": made},
                                code="replenishment_arranged")
    stats = rule_demand_stats(tenant=tenant, rules=[rule], levels={pair: on_hand})[rule.pk]
    quantity = max(stats["suggested_quantity"], rule.step or 0, 1)
    supplier = _supplier_of(rule)
    request = replenishment_request_create(tenant=tenant, actor=actor, context=context, sku=rule.sku,
                                           warehouse=rule.warehouse, quantity=quantity, supplier=supplier,
                                           alert_id=alert_id)
    text = Text("inventory.replenished", {"who": actor.get_full_name() or actor.username, "qty": quantity,
                                          "unit": rule.sku.unit, "sku": rule.sku.code, "wh": rule.warehouse.code,
                                          "id": request.pk})
    return {"message": text, "data": {"replenishment_request": request.pk, "quantity": quantity}}


def _replenish_available(*, message, context, record):
    """"安排补货" for the roles that arrange replenishment, while the alert is not resolved."""
    if not context.roles & REPLENISHERS or record is None:
        return None
    return "gone" if record["state"] == AlertState.RESOLVED else "enabled"


def register_actions():
    """"安排补货" on stock alert cards; called from InventoryConfig.ready()."""
    # The press locks the alert: the rooms of all its cards are locked with the pressed one.
    registry.register_action("inventory_replenish", label=gettext_lazy("Arrange replenishment"),
                             handler=_replenish_button, rooms=card_rooms, available=_replenish_available)

