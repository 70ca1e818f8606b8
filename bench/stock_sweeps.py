"""The stock benchmark's sweeps, each built and timed in this one process (warm, in-process).

Run by bench/stock.py with DJANGO_SETTINGS_MODULE and DATABASE_URL set (a migrated database
holding the demo data); prints one JSON object:

    python bench/stock_sweeps.py rules '{"levels": 1000000, "below": 1000, "unalerted": 10, "velocity": 10000, "repeats": 3}'
    python bench/stock_sweeps.py escalation '{"open": 100000, "rounds": [100, 100, 100], "big": 1000, "diagnostic": 100}'

rules: a tenant `bulk` with `levels` SKUs, rules and stock levels in one warehouse, built with
set-based SQL (INSERT ... SELECT generate_series; each level with its copy of the rule's safety
stock, `rule_safety_stock`, as the services keep it). `below` of them are under their safety stock;
all but `unalerted` already have their open low-stock alert (the inline check raised it), so a
sweep has `unalerted` alerts to raise the first time and none after. Times
`inventory.services.rule_sweep(tenant=bulk)`: the first run (raising), then `repeats` runs (nothing
new), then the same with `velocity` of the rules given a velocity factor. Baseline: a bare
`SELECT count(*)` over the stock levels table.

escalation: tenant acme with `open` open alerts. The ones to fall due are raised through
`alerts.services.alert_raise` (event cards, policy, notifications: real alerts); the rest are
inserted with set-based SQL, due an hour or more from now, with the same cards and policy. Times
`alerts.services.escalation_sweep()` with nothing due, then per round with that many made due
(fresh alerts each round), then with `big` due. Baseline: `SELECT count(*)` of the open alerts.
The timed rounds run in this plain process, with no publishing loop: each batch's frames go out
through one async_to_sync call. Diagnostics: the same with a long-lived publishing loop (what
Celery worker processes and the server have), and with publishes skipped.

Every timed call also reports its SQL statements and the time spent in them (an execute
wrapper), so a figure says how much is the database and how much is Python.
"""

import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.getcwd())  # the portal measured: run from its checkout (stock --server-root)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scm_portal.settings.base")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402


class SqlMeter:
    """Counts statements and the seconds spent executing them (fetches included)."""

    def __init__(self):
        self.count, self.seconds = 0, 0.0

    def __call__(self, execute, sql, params, many, context):
        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - t0
            self.count += 1


def timed(fn):
    meter = SqlMeter()
    with connection.execute_wrapper(meter):
        t0 = time.perf_counter()
        result = fn()
        elapsed = time.perf_counter() - t0
    return result, {"s": round(elapsed, 4), "sql_statements": meter.count, "sql_s": round(meter.seconds, 4)}


def sql(statement, params=()):
    with connection.cursor() as cur:
        cur.execute(statement, params)
        return cur.fetchall() if cur.description else None


def count_baseline(statement, params=(), repeats=3):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        value = sql(statement, params)[0][0]
        times.append(time.perf_counter() - t0)
    return {"s": round(min(times), 4), "rows": value, "runs_s": [round(t, 4) for t in times]}


def vacuum_analyze(*tables):
    # Production tables are vacuumed and analysed by autovacuum; a freshly loaded one is not yet.
    for table in tables:
        sql(f"VACUUM ANALYZE {table}")


# --- rule_sweep ---------------------------------------------------------------------------------

def build_rules_world(levels, below, unalerted):
    from inventory import services as inventory
    from scm_portal.tenancy import services as tenancy
    from scm_portal.tenancy.models import Organization
    from scm_portal.tenancy.roles import OrganizationKind

    with transaction.atomic():
        tenant = tenancy.tenant_create(slug="bulk", name="Bulk 大型制造")
        sup_a, sup_b = Organization.objects.get(slug="sup-a"), Organization.objects.get(slug="sup-b")
        for org in (sup_a, sup_b):
            tenancy.partnership_create(tenant=tenant, actor=None, organization=org, kind=OrganizationKind.SUPPLIER)
        warehouse = inventory.warehouse_create(tenant=tenant, actor=None, code="BK-01", name="大仓")
    t0 = time.perf_counter()
    with transaction.atomic():
        # A bulk load, as pg_restore does it: the triggers (foreign keys, the rules' copy onto
        # their levels) are off for this transaction (the rows are consistent by construction,
        # the levels' copy included); every index is maintained.
        sql("SET LOCAL session_replication_role = replica")
        sql("""INSERT INTO inventory_sku (tenant_id, code, name, unit, created_at, default_supplier_id)
               SELECT %s, 'B-' || lpad(g::text, 7, '0'), 'Bulk SKU ' || g, 'pcs', now(),
                      CASE WHEN g %% 2 = 0 THEN %s ELSE %s END
               FROM generate_series(0, %s - 1) g""", [tenant.id, sup_a.id, sup_b.id, levels])
        # Safety stock 100..499, reorder point twice that; ids follow the SKUs' order.
        sql("""INSERT INTO inventory_replenishmentrule (tenant_id, sku_id, warehouse_id, safety_stock, reorder_point,
                      max_level, velocity_window_hours, lead_time_days, active, updated_at)
               SELECT s.tenant_id, s.id, %s, 100 + s.id %% 400, 2 * (100 + s.id %% 400), 5000, 1, 7, true, now()
               FROM inventory_sku s WHERE s.tenant_id = %s ORDER BY s.id""", [warehouse.id, tenant.id])
        # `below` levels (spread over the table) under their safety stock, the rest above their reorder
        # point; each with its copy of the rule's safety stock, as the services keep it.
        stride = max(1, levels // max(below, 1))
        sql("""INSERT INTO inventory_stocklevel
                      (tenant_id, sku_id, warehouse_id, on_hand, rule_safety_stock, updated_at)
               SELECT r.tenant_id, r.sku_id, r.warehouse_id,
                      CASE WHEN n %% %s = 0 AND n / %s < %s THEN r.safety_stock - 1 - n %% 7
                           ELSE r.reorder_point + 10 + n %% 1000 END, r.safety_stock, now()
               FROM (SELECT r.*, row_number() OVER (ORDER BY r.id) - 1 AS n
                     FROM inventory_replenishmentrule r WHERE r.tenant_id = %s) r""",
            [stride, stride, below, tenant.id])
        # The open low-stock alerts the inline check raised for all but `unalerted` of them.
        sql("""INSERT INTO alerts_alert (tenant_id, kind, severity, state, level, dedupe_key, title, body, subject_kind,
                      subject_ref, partner_id, core_audience, payload, cards, next_escalation_at, opened_at, recovered)
               SELECT r.tenant_id, 'low_stock', 20, 'open', 0, 'low_stock:' || r.id, s.code || ' is below safety stock',
                      '', 'sku', s.code, s.default_supplier_id, ',warehouse,', '{}'::jsonb, '[]'::jsonb, NULL, now(), false
               FROM inventory_replenishmentrule r
               JOIN inventory_stocklevel l ON l.tenant_id = r.tenant_id AND l.sku_id = r.sku_id AND l.warehouse_id = r.warehouse_id
               JOIN inventory_sku s ON s.id = r.sku_id
               WHERE r.tenant_id = %s AND l.on_hand < r.safety_stock
               ORDER BY r.id OFFSET %s""", [tenant.id, unalerted])
    built_s = time.perf_counter() - t0
    vacuum_analyze("inventory_sku", "inventory_replenishmentrule", "inventory_stocklevel", "alerts_alert")
    counts = sql("""SELECT (SELECT count(*) FROM inventory_stocklevel WHERE tenant_id = %s),
                           (SELECT count(*) FROM inventory_stocklevel l JOIN inventory_replenishmentrule r
                              ON r.sku_id = l.sku_id AND r.warehouse_id = l.warehouse_id
                            WHERE l.tenant_id = %s AND l.on_hand < r.safety_stock),
                           (SELECT count(*) FROM alerts_alert WHERE tenant_id = %s AND state <> 'resolved')""",
                 [tenant.id, tenant.id, tenant.id])[0]
    return tenant, {"build_s": round(built_s, 1), "levels": counts[0], "below_safety": counts[1], "open_alerts": counts[2]}


class _Captured(Exception):
    pass


def capture_first_statement(fn):
    """The first SQL statement `fn` would run, with its parameters (not run: nothing changes)."""
    captured = []

    def wrapper(execute, sql_text, params, many, context):
        captured.append((sql_text, params))
        raise _Captured

    try:
        with transaction.atomic(), connection.execute_wrapper(wrapper):
            fn()
    except _Captured:
        pass
    return captured[0]


def min_time(statement, params, repeats=3):
    best, rows = None, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        rows = sql(statement, params)
        elapsed = time.perf_counter() - t0
        best = elapsed if best is None else min(best, elapsed)
    return round(best, 4), rows


def compare_selects(tenant, rule_sweep):
    """Diagnostic: the sweep's own SELECT alone, and the same question asked the way the sweep
    asked it before the levels carried their rule's safety stock: the below-safety set computed
    first (a MATERIALIZED CTE) by joining every rule with its level. `cte_s` is that join (the
    report still calls it "the below-safety set computed first"); the rows must be the same."""
    shipped, params = capture_first_statement(lambda: rule_sweep(tenant=tenant))
    shipped_s, shipped_rows = min_time(shipped, params)
    limit = params[-1]
    cte = """WITH below AS MATERIALIZED (
                 SELECT r.id, l.on_hand FROM inventory_replenishmentrule r
                 JOIN inventory_stocklevel l ON l.tenant_id = r.tenant_id AND l.sku_id = r.sku_id AND l.warehouse_id = r.warehouse_id
                 WHERE r.tenant_id = %s AND r.active AND l.on_hand < r.safety_stock)
             SELECT b.id, b.on_hand FROM below b
             WHERE NOT EXISTS (SELECT 1 FROM alerts_alert a WHERE a.tenant_id = %s AND a.dedupe_key = 'low_stock:' || b.id
                                 AND a.state <> 'resolved')
             ORDER BY b.id LIMIT %s"""
    cte_s, cte_rows = min_time(cte, [tenant.id, tenant.id, limit])
    return {"shipped_s": shipped_s, "cte_s": cte_s, "cte": "join of every rule with its level (the previous design)",
            "rows": len(shipped_rows), "same_rows": shipped_rows == cte_rows, "shipped_sql": " ".join(shipped.split())[:400]}


def bench_rules(cfg):
    from alerts import services as alerts
    from alerts.models import Severity
    from alerts.registry import register_alert_kind
    from inventory.services import rule_sweep

    tenant, world = build_rules_world(cfg["levels"], cfg["below"], cfg["unalerted"])
    out = {"world": world, "baseline": count_baseline("SELECT count(*) FROM inventory_stocklevel")}
    out["select"] = compare_selects(tenant, rule_sweep)
    # Warm the code paths a sweep takes (imports, the alert path) on a throwaway alert.
    register_alert_kind("bench", label="bench", severity=Severity.INFO)
    with transaction.atomic():
        alerts.alert_raise(tenant=tenant, kind="bench", severity=Severity.INFO, dedupe_key="bench-warmup", title="warm-up")
        transaction.set_rollback(True)
    raised, first = timed(lambda: rule_sweep(tenant=tenant))
    first["raised"] = len(raised)
    out["first"] = first
    runs = []
    for _ in range(cfg["repeats"]):
        raised, t = timed(lambda: rule_sweep(tenant=tenant))
        t["raised"] = len(raised)
        runs.append(t)
    out["steady"] = runs
    if cfg["velocity"]:
        step = max(1, cfg["levels"] // cfg["velocity"])
        sql("UPDATE inventory_replenishmentrule SET velocity_factor = 3.00 WHERE tenant_id = %s AND id %% %s = 0",
            [tenant.id, step])
        n = sql("SELECT count(*) FROM inventory_replenishmentrule WHERE tenant_id = %s AND velocity_factor IS NOT NULL",
                [tenant.id])[0][0]
        vruns = []
        for _ in range(cfg["repeats"]):
            raised, t = timed(lambda: rule_sweep(tenant=tenant))
            t["raised"] = len(raised)
            vruns.append(t)
        out["velocity"] = {"rules": n, "runs": vruns}
    return out


# --- escalation_sweep ---------------------------------------------------------------------------

def _clone_alerts(template_id, count):
    """`count` copies of a raised alert (its policy, cards, partner and audience), open, not yet due."""
    if count <= 0:
        return []
    rows = sql("""INSERT INTO alerts_alert (tenant_id, kind, severity, state, level, dedupe_key, title, body, subject_kind,
                         subject_ref, partner_id, core_audience, payload, cards, policy_id, next_escalation_at, opened_at, recovered)
                  SELECT t.tenant_id, t.kind, t.severity, 'open', 0, 'bench-esc-copy:' || g, t.title, t.body, t.subject_kind,
                         'ESC-C' || g, t.partner_id, t.core_audience, t.payload, t.cards, t.policy_id,
                         now() + interval '2 hours', now(), false
                  FROM alerts_alert t, generate_series(1, %s) g WHERE t.id = %s ORDER BY g RETURNING id""",
               [count, template_id])
    return [r[0] for r in rows]


def _raise_many(alerts, tenant, partner, count, out):
    from alerts.models import Severity
    from scm_portal.tenancy.roles import Role

    with transaction.atomic():
        for i in range(count):
            code = f"ESC-{i:05d}"
            alert, _created = alerts.alert_raise(
                tenant=tenant, kind="low_stock", severity=Severity.WARNING, dedupe_key=f"bench-esc:{i}",
                title=f"{code} in WH-SH is below safety stock: 40 < 100", body="Suggested reorder: 960.",
                subject_kind="sku", subject_ref=code, partner=partner, core_audience=(Role.WAREHOUSE,),
                payload={"sku": code, "warehouse": "WH-SH", "on_hand": 40, "safety_stock": 100},
                extra_actions=("inventory_replenish",),
            )
            out.append(alert.pk)


def build_alert_world(open_total, due_total, raise_max=100):
    from alerts import services as alerts
    from alerts.models import Alert, EscalationPolicy
    import realtime
    from scm_portal.tenancy.models import Organization, Tenant

    tenant = Tenant.objects.get(slug="acme")
    sup_a = Organization.objects.get(slug="sup-a")
    policy = EscalationPolicy.objects.for_tenant(tenant).filter(active=True).first()
    t0 = time.perf_counter()
    real = []
    # Setup only: nobody listens yet, so the raises skip their socket publishes (the timed
    # sweeps below publish as they would in production).
    saved, realtime._group_send = realtime._group_send, lambda group, event: None
    try:
        _raise_many(alerts, tenant, sup_a, min(due_total, raise_max), real)
    finally:
        realtime._group_send = saved
    raise_s = time.perf_counter() - t0
    template = Alert.objects.get(pk=real[0]) if real else None
    # The rest of the alerts that will fall due: copies of a raised one (same policy, the same two
    # cards to reply under, same partner and audience), so every escalation does the same work.
    real += _clone_alerts(real[0], due_total - len(real)) if real else []
    with transaction.atomic():
        sql("SET LOCAL session_replication_role = replica")  # bulk load: no foreign-key triggers
        # Everything open already (earlier parts of the run, the demo) is background: not due.
        sql("UPDATE alerts_alert SET next_escalation_at = now() + interval '2 hours' WHERE state = 'open'")
        existing = sql("SELECT count(*) FROM alerts_alert WHERE state = 'open'")[0][0]
        sql("""INSERT INTO alerts_alert (tenant_id, kind, severity, state, level, dedupe_key, title, body, subject_kind,
                      subject_ref, partner_id, core_audience, payload, cards, policy_id, next_escalation_at, opened_at, recovered)
               SELECT %s, 'low_stock', 20, 'open', 0, 'bench-bg:' || g, 'BG-' || g || ' in WH-SH is below safety stock',
                      '', 'sku', 'BG-' || g, %s, ',warehouse,', '{}'::jsonb, %s::jsonb, %s,
                      now() + interval '1 hour' + (g %% 7200) * interval '1 second', now() - (g %% 600) * interval '1 second', false
               FROM generate_series(1, %s) g""",
            [tenant.id, sup_a.id, json.dumps(template.cards if template else []), policy.pk if policy else None,
             max(0, open_total - existing)])
    vacuum_analyze("alerts_alert")
    counts = sql("SELECT count(*), count(*) FILTER (WHERE next_escalation_at <= now()) FROM alerts_alert WHERE state = 'open'")[0]
    return real, {"raise_s": round(raise_s, 1), "raised": min(due_total, raise_max), "copies": len(real) - min(due_total, raise_max),
                  "open_alerts": counts[0], "due_now": counts[1],
                  "policy_levels": len(policy.levels) if policy else 0, "cards_per_alert": len(template.cards) if template else 0}


class PublisherLoop:
    """Diagnostic: an event loop in a background thread handed to realtime.set_server_loop,
    as the server does at start-up and Celery worker processes do (scm_portal.celery.start_publisher_loop),
    so publishes from this process reuse one loop and one Redis connection instead of a fresh loop
    (and connection) per batch. Not that function itself: this one is stopped afterwards."""

    def __enter__(self):
        import asyncio
        import threading

        import realtime

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        realtime.set_server_loop(self.loop)
        realtime._group_send("user.0", {"type": "user.frame", "frame": {"type": "bench"}})  # connect once
        return self

    def __exit__(self, *exc):
        import realtime

        realtime.set_server_loop(None)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


class NoPublish:
    """Diagnostic: socket publishes skipped (what the sweep costs without them)."""

    def __enter__(self):
        import realtime

        self.saved = realtime._group_send, realtime._group_send_many
        realtime._group_send = realtime._group_send_many = lambda *args, **kwargs: None
        return self

    def __exit__(self, *exc):
        import realtime

        realtime._group_send, realtime._group_send_many = self.saved


def bench_escalation(cfg):
    from contextlib import nullcontext

    from alerts.services import escalation_sweep

    rounds, big, diagnostic = cfg["rounds"], cfg["big"], cfg.get("diagnostic", 0)
    real, world = build_alert_world(cfg["open"], sum(rounds) + big + 2 * diagnostic)
    out = {"world": world, "baseline": count_baseline("SELECT count(*) FROM alerts_alert WHERE state = 'open'")}
    idle = []
    for _ in range(3):
        n, t = timed(escalation_sweep)
        t["escalated"] = n
        idle.append(t)
    out["nothing_due"] = idle
    pending = iter(real)

    def sweep_with(size, context=None):
        ids = [next(pending) for _ in range(size)]
        sql("UPDATE alerts_alert SET next_escalation_at = now() - interval '1 second' WHERE id = ANY(%s)", [ids])
        with context or nullcontext():
            n, t = timed(escalation_sweep)
        t.update({"due": size, "escalated": n, "per_alert_ms": round(t["s"] / max(n, 1) * 1000, 2)})
        return t

    out["rounds"] = [sweep_with(size) for size in rounds]
    if out["rounds"]:
        out["rounds_median_s"] = round(statistics.median(r["s"] for r in out["rounds"]), 4)
    if big:
        out["big"] = sweep_with(big)
    if diagnostic:
        with PublisherLoop() as publisher:
            out["publisher_loop"] = sweep_with(diagnostic, nullcontext(publisher))
        out["no_publish"] = sweep_with(diagnostic, NoPublish())
    return out


if __name__ == "__main__":
    mode, cfg = sys.argv[1], json.loads(sys.argv[2])
    result = {"rules": bench_rules, "escalation": bench_escalation}[mode](cfg)
    print(json.dumps(result))
