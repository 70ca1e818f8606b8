"""stock: stock movements → rules → alerts, through the real server, each figure beside its baseline.

    uvicorn scm_portal.asgi:application  +  Redis (channel layer)  +  PostgreSQL (fresh database)

1. Alert latency: a movement POSTed to /api/v1/t/acme/stock/movements/ (as acme.warehouse) takes a
   fresh SKU of supplier sup-a below its safety stock; a websocket of supa.rep (the supplier's rep)
   times POST start → the `alert` frame's arrival. Baseline: bench/stock_bare_app.py under the same
   uvicorn (one INSERT + COMMIT with psycopg, one Redis PUBLISH, a websocket subscribed to Redis),
   measured with the same client (bench/stock_ws_client.py), the same bodies and the same rate.
2. Ingestion over HTTP with the rules applied: batches of 1,000 movements on 10,000 SKUs with rules
   (mostly not crossing a line; one movement per batch crosses the safety line and raises an
   alert), with 1 and 2 uvicorn workers and 1-4 client connections; the best is the figure.
   Baseline: a raw psycopg COPY of the same rows into a table like the movements table (same
   columns and indexes); also with its foreign keys, a pipelined executemany and one INSERT per
   commit, for scale. Diagnostics: the best configuration with no line crossed, and again once the
   database also holds part 3's 10^6-SKU tenant.
3. rules_sweep over 10^6 stock levels (a tenant built with set-based SQL). Baseline: a bare
   `SELECT count(*)` over the levels table. Diagnostic: the sweep's SELECT alone, and rewritten.
4. escalation_sweep over 10^5 open alerts with 100 due (3 rounds), and with 1,000 due. Baseline:
   `SELECT count(*)` of the open alerts. Diagnostics: the same with the process's publishes handed
   to one long-lived event loop, and with publishes skipped.
3 and 4 run in a child process (bench/stock_sweeps.py) and are timed in it, warm.

    .venv/bin/python bench/stock.py                       # everything (3-4 minutes)
    .venv/bin/python bench/run.py stock                   # the same, through the runner
    .venv/bin/python bench/stock.py --stock-parts latency,ingest
    .venv/bin/python bench/stock.py --help

Notes for whoever reads the figures: bench/STOCK.md.
"""

import argparse
import datetime
import http.client
import itertools
import json
import os
import random
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    BENCH,
    PORTAL_SERVER_ARGS,
    PYTHON,
    REPO,
    RESULTS,
    VENV_BIN,
    QUIET_CPUS,
    CpuMeter,
    bench_redis_url,
    portal_env,
    LineProcess,
    ThrowawayDatabase,
    fmt,
    free_port,
    log,
    render_table,
    spawn,
    stop,
    summary_ms,
    wait_for_port,
    add_shared_arguments,
    wait_quiet,
)

NAME = "stock"

# Targets (from the issue), for this 2-core machine.
LATENCY_P50_MS, LATENCY_P99_MS = 10.0, 40.0
INGEST_RATE = 25_000  # movements/s over HTTP, batches of 1,000
COPY_FACTOR = 10.0  # ingestion within 10x the time of a raw COPY of the same rows
RULES_SWEEP_S = 0.5  # 10^6 stock levels
ESCALATION_SWEEP_S = 1.0  # 10^5 open alerts, a realistic few (100) due
# Measured on a machine like this one (for the report only).
REFERENCE = {"copy_rows_per_s": 250_000, "executemany_rows_per_s": 69_000, "insert_commit_rows_per_s": 2_800,
             "count_levels_s": 0.06}

PARTS = ("latency", "ingest", "rules", "escalation")
TENANT = "acme"
PASSWORD = "demo12345"
COPY_TABLES = ("bench_copy_movement", "bench_copy_movement_fk")
MOVEMENT_COLUMNS = ("tenant_id", "external_id", "sku_id", "warehouse_id", "delta", "reason", "occurred_at", "source", "created_at")


def add_arguments(parser):
    g = parser.add_argument_group("stock")
    g.add_argument("--stock-parts", default=",".join(PARTS), help=f"what to measure: {', '.join(PARTS)}")
    g.add_argument("--stock-latency-messages", type=int, default=200, help="timed movement POSTs (each raises an alert)")
    g.add_argument("--stock-latency-warmup", type=int, default=20, help="untimed POSTs before the timed ones")
    g.add_argument("--stock-latency-rate", type=float, default=20, help="POSTs per second (steady, well under saturation)")
    g.add_argument("--stock-ingest-skus", type=int, default=10_000, help="SKUs with rules the ingestion moves")
    g.add_argument("--stock-ingest-batch", type=int, default=1000, help="movements per POST")
    g.add_argument("--stock-ingest-batches", type=int, default=40, help="timed batches per configuration")
    g.add_argument("--stock-ingest-crossing", type=int, default=1, help="movements per batch that cross a safety line")
    g.add_argument("--stock-ingest-workers", default="1,2", help="uvicorn worker counts, e.g. 1,2")
    g.add_argument("--stock-ingest-connections", default="1,2,3,4", help="concurrent client connections, e.g. 1,2,4")
    g.add_argument("--stock-sweep-levels", type=int, default=1_000_000, help="stock levels (and rules) of the swept tenant")
    g.add_argument("--stock-sweep-below", type=int, default=1000, help="levels under their safety stock")
    g.add_argument("--stock-sweep-unalerted", type=int, default=10, help="of those, how many have no open alert yet")
    g.add_argument("--stock-sweep-velocity", type=int, default=1000,
                   help="rules given a velocity factor for the second rules_sweep figure (0: skip)")
    g.add_argument("--stock-alerts-open", type=int, default=100_000, help="open alerts for the escalation sweep")
    g.add_argument("--stock-alerts-due", type=int, default=100, help="alerts due per escalation round")
    g.add_argument("--stock-alerts-rounds", type=int, default=3, help="escalation rounds (fresh alerts due each)")
    g.add_argument("--stock-alerts-big", type=int, default=1000, help="alerts due in the last, larger round (0: skip)")
    g.add_argument("--stock-server-env", action="append", default=[], metavar="KEY=VALUE",
                   help="extra environment for the portal server and the sweeps (repeatable), e.g. LOG_LEVEL=INFO")
    g.add_argument("--stock-wait-quiet", type=float, default=15,
                   help="before each part, wait up to this many seconds for other jobs on the machine to go quiet")


# --- environment ------------------------------------------------------------------------------------

_DATABASE = {"name": None}  # the run's throwaway database: PostgreSQL work for any other counts as "other"


def meter_for(groups):
    return CpuMeter(groups, database=_DATABASE["name"])


def code_version():
    """The commit measured, and whether the product code differed from it (bench/ is not counted)."""
    def git(*args):
        out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        return out.stdout.strip() if out.returncode == 0 else None

    status = git("status", "--porcelain", "--", ".", ":(exclude)bench")
    return {"commit": git("rev-parse", "--short", "HEAD"), "modified": bool(status) if status is not None else None}


def pg_connect(url, **kwargs):
    import psycopg

    return psycopg.connect(url.replace("postgres://", "postgresql://", 1), **kwargs)


def prepare_database(db_url, redis_url, opts):
    env = portal_env(db_url, redis_url, root=opts.server_root, extra=opts.stock_server_env)
    root = opts.server_root or REPO  # the checkout served (--server-root), its migrations and demo data
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v0"], cwd=root, env=env, check=True)
    subprocess.run([PYTHON, "manage.py", "seed_demo", "--password", PASSWORD], cwd=root, env=env, check=True,
                   capture_output=True)
    n_lat = opts.stock_latency_messages + opts.stock_latency_warmup + 20
    configs = len(opts.workers) * len(opts.connections) + 1  # + the run beside the 10^6-SKU tenant
    batches_total = configs * (opts.stock_ingest_batches + 2 * max(opts.connections))
    near = min(opts.stock_ingest_skus // 2, max(1, batches_total * opts.stock_ingest_crossing))
    out = subprocess.run([PYTHON, str(BENCH / "stock_setup.py"), str(n_lat), str(opts.stock_ingest_skus), str(near)],
                         cwd=root, env=env, check=True, capture_output=True, text=True)
    world = json.loads(out.stdout)
    with pg_connect(db_url, autocommit=True) as conn:
        conn.execute("""CREATE TABLE bench_bare_movement (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                        external_id varchar(100) NOT NULL UNIQUE, sku varchar(64) NOT NULL, warehouse varchar(40) NOT NULL,
                        delta bigint NOT NULL, reason varchar(50) NOT NULL, occurred_at timestamptz NOT NULL,
                        created_at timestamptz NOT NULL DEFAULT now())""")
        # The COPY baseline's tables: the movements table's columns, defaults, checks and indexes
        # (unique (tenant, external_id), (tenant, sku, warehouse, occurred_at), ...); the second
        # one also has its three deferred foreign keys (checked at commit).
        for table in COPY_TABLES:
            conn.execute(f"CREATE TABLE {table} (LIKE inventory_stockmovement INCLUDING ALL)")
        for column, target in (("tenant_id", "tenancy_tenant"), ("sku_id", "inventory_sku"),
                               ("warehouse_id", "inventory_warehouse")):
            conn.execute(f"ALTER TABLE {COPY_TABLES[1]} ADD FOREIGN KEY ({column}) REFERENCES {target} (id) "
                         "DEFERRABLE INITIALLY DEFERRED")
    return world


# --- HTTP -----------------------------------------------------------------------------------------------

class Http:
    """One keep-alive connection (reopened when idle long enough for the server to drop it)."""

    IDLE_REOPEN_S = 2.0

    def __init__(self, port, token=None):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.last_used = time.monotonic()
        self.headers = {"Content-Type": "application/json", "Accept": "application/json", "Host": "127.0.0.1"}
        if token:
            self.headers["Authorization"] = f"Token {token}"

    def post(self, path, body):
        if time.monotonic() - self.last_used > self.IDLE_REOPEN_S:
            self.conn.close()
        try:
            self.conn.request("POST", path, body, self.headers)
            response = self.conn.getresponse()
        except (ConnectionError, http.client.RemoteDisconnected):
            self.conn.close()
            self.conn.request("POST", path, body, self.headers)
            response = self.conn.getresponse()
        data = response.read()
        self.last_used = time.monotonic()
        return response.status, data

    def close(self):
        self.conn.close()


def get_token(port, username, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        try:
            client = Http(port)
            status, data = client.post("/api/v1/auth/token/", json.dumps({"username": username, "password": PASSWORD}))
            client.close()
            if status == 200:
                return json.loads(data)["token"]
            raise RuntimeError(f"POST /api/v1/auth/token/ as {username}: {status} {data[:200]!r}")
        except (ConnectionError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def start_server(app, env, port, workers, logname, root=None):
    """uvicorn serving `app` from `root` (the checkout --server-root names, else this one: uvicorn
    puts its working directory first on the import path)."""
    logpath = RESULTS / "logs" / logname
    logpath.parent.mkdir(parents=True, exist_ok=True)
    with open(logpath, "w") as logfile:
        proc = spawn([str(VENV_BIN / "uvicorn"), app, "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
                      *PORTAL_SERVER_ARGS, "--log-level", "warning", "--no-access-log"],
                     env=env, stdout=logfile, stderr=subprocess.STDOUT, cwd=root or REPO)
    wait_for_port(port, 60, proc)
    return proc


# --- 1. alert latency -------------------------------------------------------------------------------

def movement_body(key, warehouse, delta, tag):
    return json.dumps({"external_id": f"lat-{tag}-{key}", "sku": key, "warehouse": warehouse, "delta": delta,
                       "reason": "销售出库", "occurred_at": datetime.datetime.now(datetime.UTC).isoformat()})


def latency_phase(client_proc, http_client, path, keys, rate, warehouse, delta, tag):
    """POSTs one movement per key at `rate`/s (each takes a fresh SKU under its safety stock), then
    asks the socket client when each key's alert frame arrived; latency = arrival − POST start."""
    records = {}
    start = time.monotonic()
    for i, key in enumerate(keys):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        body = movement_body(key, warehouse, delta, tag)
        t0 = time.time_ns()
        status, data = http_client.post(path, body)
        t1 = time.time_ns()
        if status != 201 or json.loads(data).get("created") != 1:
            raise RuntimeError(f"POST {path}: {status} {data[:300]!r}")
        records[key] = (t0, t1)
    client_proc.send({"cmd": "collect", "keys": list(keys), "timeout": 15})
    got = client_proc.recv()
    arrivals = got["arrivals"]
    lat = [(arrivals[k] - records[k][0]) // 1000 for k in keys if k in arrivals]
    post = [(records[k][1] - records[k][0]) // 1000 for k in keys]
    after = [(arrivals[k] - records[k][1]) // 1000 for k in keys if k in arrivals]
    return {
        "sent": len(keys), "received": len(arrivals), "missing": len(keys) - len(arrivals),
        "latency_ms": summary_ms(lat), "post_ms": summary_ms(post), "after_response_ms": summary_ms(after),
        "frames": got["frames"], "closed": got["closed"], "rate_achieved": round(len(keys) / (time.monotonic() - start), 1),
    }


def run_latency(opts, label, server_proc, ws_url, http_client, path, keys, warehouse, delta, hello=True):
    client = LineProcess([PYTHON, str(BENCH / "stock_ws_client.py")])
    try:
        client.send({"url": ws_url, "hello": hello})
        ready = client.recv()
        log(f"{label}: warm-up {opts.stock_latency_warmup}, then {opts.stock_latency_messages} POSTs at {opts.stock_latency_rate:g}/s")
        tag = secrets.token_hex(3)
        warm, timed = keys[:opts.stock_latency_warmup], keys[opts.stock_latency_warmup:opts.stock_latency_warmup + opts.stock_latency_messages]
        warmup = latency_phase(client, http_client, path, warm, opts.stock_latency_rate, warehouse, delta, tag)
        meter = meter_for({"server": [server_proc.pid], "client": [client.proc.pid]}).start()
        out = latency_phase(client, http_client, path, timed, opts.stock_latency_rate, warehouse, delta, tag)
        out["cpu"] = meter.stop()
        out["warmup_missing"] = warmup["missing"]
        out["connect_s"] = ready["connect_s"]
        return out
    finally:
        client.close()


def bare_latency(opts, db_url, redis_url, keys):
    port = free_port()
    env = dict(os.environ, BARE_DATABASE_URL=db_url, BARE_REDIS_URL=redis_url, BARE_CHANNEL=f"bench:stock:{secrets.token_hex(4)}")
    proc = start_server("bench.stock_bare_app:app", env, port, 1, "uvicorn-stock-bare.log")
    http_client = Http(port)
    try:
        return run_latency(opts, "bare app", proc, f"ws://127.0.0.1:{port}/ws/", http_client, "/movements/", keys, "WH-SH", -100)
    finally:
        http_client.close()
        stop(proc)


# --- 2. ingestion ---------------------------------------------------------------------------------------

class IngestPlan:
    """Movement batches over the ingest SKUs: most move a SKU far from its lines, `crossing` per batch
    take a near-line SKU (each used once) under its safety stock. Consecutive batches touch disjoint
    SKUs, so concurrent connections rarely wait on each other's row locks."""

    def __init__(self, world, batch, crossing):
        ing = world["ingest"]
        self.codes, self.whs = ing["codes"], ing["warehouses"]
        self.sku_ids, self.wh_ids = ing["sku_ids"], ing["warehouse_ids"]
        self.near = ing["near_line"]
        self.batch, self.crossing = batch, crossing
        self.far = list(range(self.near, len(self.codes)))
        self.next_near = 0
        self.next_far = 0
        self.serial = itertools.count()
        self.tenant_id = world["tenant_id"]
        self.rng = random.Random(7)

    def make(self, count, tag, crossing=None):
        """`count` batches: (body bytes, rows as the COPY baseline writes them)."""
        crossing = self.crossing if crossing is None else crossing
        out = []
        now = datetime.datetime.now(datetime.UTC)
        for _ in range(count):
            rows = []
            for _k in range(self.batch - crossing):
                i = self.far[self.next_far % len(self.far)]
                self.next_far += 1
                delta = self.rng.choice((-5, -4, -3, -2, -1, 1, 2, 3, 4, 5))
                rows.append((i, delta, "销售出库" if delta < 0 else "采购入库"))
            for _k in range(crossing):
                if self.next_near >= self.near:
                    raise RuntimeError("stock: out of near-line SKUs; raise the count in prepare_database")
                rows.append((self.next_near, -2, "销售出库"))
                self.next_near += 1
            when = now.isoformat()
            movements, copy_rows = [], []
            for i, delta, reason in rows:
                ext = f"ing-{tag}-{next(self.serial)}"
                movements.append({"external_id": ext, "sku": self.codes[i], "warehouse": self.whs[i], "delta": delta,
                                  "reason": reason, "occurred_at": when})
                copy_rows.append((self.tenant_id, ext, self.sku_ids[i], self.wh_ids[i], delta, reason, now, "api", now))
            out.append((json.dumps(movements, ensure_ascii=False).encode(), copy_rows))
        return out


def post_batches(port, token, path, bodies, connections):
    """Posts the bodies over `connections` keep-alive connections, as fast as they are taken."""
    counter = itertools.count()
    records, errors = [], []
    lock = threading.Lock()
    clients = [Http(port, token) for _ in range(connections)]

    def work(client):
        try:
            while (i := next(counter)) < len(bodies):
                t0 = time.perf_counter()
                status, data = client.post(path, bodies[i])
                t1 = time.perf_counter()
                if status != 201:
                    raise RuntimeError(f"POST {path}: {status} {data[:300]!r}")
                with lock:
                    records.append((t0, t1, json.loads(data)["created"]))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in clients:
        c.close()
    if errors:
        raise errors[0]
    return records


def ingest_config(plan, port, token, server_pid, workers, connections, opts, crossing=None):
    path = f"/api/v1/t/{TENANT}/stock/movements/"
    tag = f"w{workers}c{connections}{secrets.token_hex(2)}"
    warm = plan.make(2 * connections, tag + "w", crossing)
    post_batches(port, token, path, [b for b, _r in warm], connections)
    batches = plan.make(opts.stock_ingest_batches, tag, crossing)
    bodies = [b for b, _r in batches]
    meter = meter_for({"server": [server_pid]}).start()
    records = post_batches(port, token, path, bodies, connections)
    cpu = meter.stop()
    wall = max(r[1] for r in records) - min(r[0] for r in records)
    created = sum(r[2] for r in records)
    expected = len(bodies) * opts.stock_ingest_batch
    return {
        "workers": workers, "connections": connections, "batches": len(bodies), "movements": created,
        "expected": expected, "wall_s": round(wall, 3), "per_s": round(created / wall),
        "batch_ms": summary_ms([int((r[1] - r[0]) * 1e6) for r in records]),
        "crossing_per_batch": plan.crossing if crossing is None else crossing, "cpu": cpu,
    }, [row for _b, rows in batches for row in rows]


def copy_baselines(db_url, rows):
    """The same rows into a table like the movements table: one COPY (the figure the target is
    relative to); the same with the movements table's foreign keys; a COPY per batch of 1,000
    (each committed); a pipelined executemany; one INSERT per commit (a sample)."""
    cols = ", ".join(MOVEMENT_COLUMNS)
    plain, with_fk = COPY_TABLES
    insert = f"INSERT INTO {plain} ({cols}) VALUES ({', '.join(['%s'] * len(MOVEMENT_COLUMNS))})"
    out = {"rows": len(rows)}
    with pg_connect(db_url) as conn:
        def truncate(table):
            conn.execute(f"TRUNCATE {table}")
            conn.commit()

        def copy(table, chunk):
            with conn.cursor() as cur, cur.copy(f"COPY {table} ({cols}) FROM STDIN") as cp:
                for row in chunk:
                    cp.write_row(row)
            conn.commit()

        def best_copy(table):
            copy(table, rows[:1000])  # warm the connection, the table and the code path
            truncate(table)
            best = None
            for _ in range(2):
                t0 = time.perf_counter()
                copy(table, rows)
                elapsed = time.perf_counter() - t0
                best = elapsed if best is None else min(best, elapsed)
                truncate(table)
            return {"s": round(best, 4), "per_s": round(len(rows) / best)}

        out["copy"] = best_copy(plain)
        out["copy_fk"] = best_copy(with_fk)

        t0 = time.perf_counter()
        for start in range(0, len(rows), 1000):
            copy(plain, rows[start:start + 1000])
        elapsed = time.perf_counter() - t0
        out["copy_batches"] = {"s": round(elapsed, 4), "per_s": round(len(rows) / elapsed)}
        truncate(plain)

        t0 = time.perf_counter()
        with conn.cursor() as cur:
            cur.executemany(insert, rows)
        conn.commit()
        elapsed = time.perf_counter() - t0
        out["executemany"] = {"s": round(elapsed, 4), "per_s": round(len(rows) / elapsed)}
        truncate(plain)

        sample = rows[:2000]
        t0 = time.perf_counter()
        for row in sample:
            conn.execute(insert, row)
            conn.commit()
        elapsed = time.perf_counter() - t0
        out["insert_commit"] = {"rows": len(sample), "s": round(elapsed, 4), "per_s": round(len(sample) / elapsed)}
        truncate(plain)
    return out


# --- 1 + 2 against the portal ----------------------------------------------------------------------------

def run_portal(opts, world, db_url, redis_url, data):
    plan = IngestPlan(world, opts.stock_ingest_batch, opts.stock_ingest_crossing)
    copy_rows = None
    data.setdefault("ingest", {"configs": []})
    worker_counts = opts.workers if "ingest" in opts.parts else [1]
    for workers in worker_counts:
        port = free_port()
        env = portal_env(db_url, redis_url, root=opts.server_root, extra=opts.stock_server_env)
        log(f"portal: uvicorn, {workers} worker(s)")
        proc = start_server("scm_portal.asgi:application", env, port, workers, f"uvicorn-stock-w{workers}.log",
                            opts.server_root)
        try:
            token = get_token(port, "acme.warehouse")
            if "latency" in opts.parts and workers == 1:
                data.setdefault("quiet", {})["latency_portal"] = wait_quiet(opts.stock_wait_quiet, database=_DATABASE["name"])
                rep_token = get_token(port, "supa.rep")
                http_client = Http(port, token)
                try:
                    lat = world["latency"]
                    data["latency"]["portal"] = run_latency(
                        opts, "portal", proc, f"ws://127.0.0.1:{port}/ws/t/{TENANT}/?token={rep_token}", http_client,
                        f"/api/v1/t/{TENANT}/stock/movements/", lat["skus"], lat["warehouse"], -100)
                finally:
                    http_client.close()
            if "ingest" in opts.parts:
                data.setdefault("quiet", {})[f"ingest_w{workers}"] = wait_quiet(opts.stock_wait_quiet, database=_DATABASE["name"])
                for connections in opts.connections:
                    log(f"ingest: {workers} worker(s), {connections} connection(s), {opts.stock_ingest_batches} × "
                        f"{opts.stock_ingest_batch} movements")
                    result, rows = ingest_config(plan, port, token, proc.pid, workers, connections, opts)
                    data["ingest"]["configs"].append(result)
                    copy_rows = copy_rows or rows
                if workers == worker_counts[-1] and opts.stock_ingest_crossing:
                    # Diagnostic: the same at the most connections with no line crossed (no alert
                    # raised, so no batch waits on another's room lock).
                    connections = max(opts.connections)
                    log(f"ingest (diagnostic): {workers} worker(s), {connections} connection(s), no line crossed")
                    result, _rows = ingest_config(plan, port, token, proc.pid, workers, connections, opts, crossing=0)
                    data["ingest"]["no_crossing"] = result
        finally:
            stop(proc)
    data["ingest"]["plan"] = plan  # taken out before the results are written
    if copy_rows:
        log(f"COPY baseline: {len(copy_rows):,} rows")
        meter = meter_for({}).start()
        data["ingest"]["baseline"] = copy_baselines(db_url, copy_rows)
        data["ingest"]["baseline"]["cpu"] = meter.stop()
        with pg_connect(db_url) as conn:
            data["ingest"]["alerts_raised"] = conn.execute(
                "SELECT count(*) FROM alerts_alert WHERE dedupe_key LIKE 'low_stock:%%' AND subject_ref LIKE 'ING-%%'"
            ).fetchone()[0]


def run_ingest_beside_bulk(opts, world, db_url, redis_url, data):
    """Diagnostic: the best ingestion configuration again, now that the database also holds the
    10^6-SKU tenant of part 3 (the same tables, as in a multi-tenant deployment)."""
    best = best_ingest(data)
    plan = data["ingest"]["plan"]
    port = free_port()
    env = portal_env(db_url, redis_url, root=opts.server_root, extra=opts.stock_server_env)
    log(f"ingest (diagnostic): w{best['workers']} c{best['connections']} beside the {opts.stock_sweep_levels:,}-SKU tenant")
    proc = start_server("scm_portal.asgi:application", env, port, best["workers"], f"uvicorn-stock-w{best['workers']}-bulk.log",
                        opts.server_root)
    try:
        token = get_token(port, "acme.warehouse")
        result, _rows = ingest_config(plan, port, token, proc.pid, best["workers"], best["connections"], opts)
    finally:
        stop(proc)
    result["beside_levels"] = opts.stock_sweep_levels
    return result


# --- 3 + 4 in a child process ------------------------------------------------------------------------------

def run_sweep(mode, cfg, db_url, redis_url, opts):
    env = portal_env(db_url, redis_url, root=opts.server_root, extra=opts.stock_server_env)
    proc = spawn([PYTHON, str(BENCH / "stock_sweeps.py"), mode, json.dumps(cfg)], env=env,
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=opts.server_root or REPO)
    meter = meter_for({"sweeps": [proc.pid]}).start()
    try:
        err_reader = threading.Thread(target=lambda: errors.append(proc.stderr.read()))
        errors = []
        err_reader.start()
        out = proc.stdout.read()  # EOF as it exits; read its CPU before reaping it (a zombie keeps its counts)
        cpu = meter.stop()
        proc.wait(600)
        err_reader.join()
    finally:
        stop(proc)
    err = "".join(errors)
    if proc.returncode != 0:
        raise RuntimeError(f"stock_sweeps.py {mode} exited {proc.returncode}: {err[-2000:]}")
    result = json.loads(out)
    result["cpu"] = cpu
    return result


# --- the run -------------------------------------------------------------------------------------------------

def run(opts):
    opts.parts = [p for p in opts.stock_parts.split(",") if p]
    if set(opts.parts) - set(PARTS):
        raise SystemExit(f"stock: unknown part(s) {sorted(set(opts.parts) - set(PARTS))}; known: {', '.join(PARTS)}")
    opts.workers = [int(x) for x in opts.stock_ingest_workers.split(",") if x]
    opts.connections = [int(x) for x in opts.stock_ingest_connections.split(",") if x]
    redis_url = bench_redis_url()
    started = time.monotonic()
    data = {
        "benchmark": NAME,
        "started_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count()},
        "code": code_version(),
        "config": {k: v for k, v in vars(opts).items() if k.startswith("stock_")} | {"redis": redis_url},
        "targets": {"latency_p50_ms": LATENCY_P50_MS, "latency_p99_ms": LATENCY_P99_MS, "ingest_per_s": INGEST_RATE,
                    "copy_factor": COPY_FACTOR, "rules_sweep_s": RULES_SWEEP_S, "escalation_sweep_s": ESCALATION_SWEEP_S},
        "reference": REFERENCE,
    }
    data["background_cpu"] = meter_for({}).start()
    time.sleep(2)
    data["background_cpu"] = data["background_cpu"].stop()
    with ThrowawayDatabase() as db:
        _DATABASE["name"] = db.name
        log(f"database {db.name}: migrate, seed_demo, {opts.stock_ingest_skus:,} ingest SKUs with rules")
        world = prepare_database(db.url, redis_url, opts)
        if "latency" in opts.parts:
            data.setdefault("quiet", {})["latency_bare"] = wait_quiet(opts.stock_wait_quiet, database=_DATABASE["name"])
            data["latency"] = {"bare": bare_latency(opts, db.url, redis_url, world["latency"]["skus"])}
        if "latency" in opts.parts or "ingest" in opts.parts:
            run_portal(opts, world, db.url, redis_url, data)
        if "rules" in opts.parts:
            data.setdefault("quiet", {})["rules"] = wait_quiet(opts.stock_wait_quiet, database=_DATABASE["name"])
            log(f"rules_sweep: building {opts.stock_sweep_levels:,} rules + stock levels, then timing")
            data["rules"] = run_sweep("rules", {
                "levels": opts.stock_sweep_levels, "below": opts.stock_sweep_below, "unalerted": opts.stock_sweep_unalerted,
                "velocity": opts.stock_sweep_velocity, "repeats": 3}, db.url, redis_url, opts)
        if "rules" in opts.parts and best_ingest(data):
            data["ingest"]["beside_bulk"] = run_ingest_beside_bulk(opts, world, db.url, redis_url, data)
        data.get("ingest", {}).pop("plan", None)
        if "escalation" in opts.parts:
            data.setdefault("quiet", {})["escalation"] = wait_quiet(opts.stock_wait_quiet, database=_DATABASE["name"])
            log(f"escalation_sweep: {opts.stock_alerts_open:,} open alerts, "
                f"{opts.stock_alerts_rounds} × {opts.stock_alerts_due} due, then {opts.stock_alerts_big} due")
            data["escalation"] = run_sweep("escalation", {
                "open": opts.stock_alerts_open, "rounds": [opts.stock_alerts_due] * opts.stock_alerts_rounds,
                "big": opts.stock_alerts_big, "diagnostic": opts.stock_alerts_due}, db.url, redis_url, opts)
    data["elapsed_s"] = round(time.monotonic() - started, 1)
    data["checks"] = checks(data)
    return data


# --- verdicts and the table ------------------------------------------------------------------------------------

def best_ingest(data):
    configs = data.get("ingest", {}).get("configs", [])
    return max(configs, key=lambda c: c["per_s"]) if configs else None


def checks(data):
    out = []
    if "latency" in data and "portal" in data["latency"]:
        p = data["latency"]["portal"]
        for name, limit in (("p50", LATENCY_P50_MS), ("p99", LATENCY_P99_MS)):
            v = p["latency_ms"][name]
            out.append({"part": "latency", "check": f"POST → alert frame {name} ≤ {limit:g} ms", "value": v,
                        "ok": v is not None and v <= limit})
        out.append({"part": "latency", "check": "every alert frame arrived", "value": p["missing"], "ok": p["missing"] == 0})
    best = best_ingest(data)
    if best:
        out.append({"part": "ingest", "check": f"≥ {INGEST_RATE:,} movements/s (best configuration)", "value": best["per_s"],
                    "ok": best["per_s"] >= INGEST_RATE})
        base = data["ingest"].get("baseline", {}).get("copy")
        if base:
            ratio = round(base["per_s"] / best["per_s"], 2)
            out.append({"part": "ingest", "check": f"≤ {COPY_FACTOR:g}× the time of COPY", "value": ratio,
                        "ok": ratio <= COPY_FACTOR})
        complete = all(c["movements"] == c["expected"] for c in data["ingest"]["configs"])
        out.append({"part": "ingest", "check": "every movement created once", "value": complete, "ok": complete})
    if "rules" in data:
        r = data["rules"]
        steady = min(x["s"] for x in r["steady"])
        levels = r["world"]["levels"]
        out.append({"part": "rules", "check": f"rules_sweep over {levels:,} levels ≤ {RULES_SWEEP_S:g} s (warm, nothing new)",
                    "value": steady, "ok": steady <= RULES_SWEEP_S})
        out.append({"part": "rules", "check": f"rules_sweep raising {r['first']['raised']} new alerts ≤ {RULES_SWEEP_S:g} s",
                    "value": r["first"]["s"], "ok": r["first"]["s"] <= RULES_SWEEP_S})
        if "velocity" in r:
            v = min(x["s"] for x in r["velocity"]["runs"])
            out.append({"part": "rules", "check": f"rules_sweep with {r['velocity']['rules']:,} velocity rules ≤ {RULES_SWEEP_S:g} s",
                        "value": v, "ok": v <= RULES_SWEEP_S})
    if "escalation" in data:
        e = data["escalation"]
        if e.get("rounds"):
            v = e["rounds_median_s"]
            due = e["rounds"][0]["due"]
            opened = e["world"]["open_alerts"]
            out.append({"part": "escalation", "value": v, "ok": v <= ESCALATION_SWEEP_S,
                        "check": f"escalation_sweep, {opened:,} open, {due} due ≤ {ESCALATION_SWEEP_S:g} s (median)"})
            ok = all(r["escalated"] == r["due"] for r in e["rounds"]) and (not e.get("big") or e["big"]["escalated"] == e["big"]["due"])
            out.append({"part": "escalation", "check": "every due alert escalated once", "value": ok, "ok": ok})
    return out


def _verdict(data, part, prefix):
    for c in data["checks"]:
        if c["part"] == part and c["check"].startswith(prefix):
            return "PASS" if c["ok"] else "FAIL"
    return "—"


def _ms(v):
    return fmt(v, 2)


def report(data):
    code = data.get("code") or {}
    lines = [f"stock — movements → rules → alerts; {data['machine']['cpus']} CPUs; commit {code.get('commit')}"
             f"{' (modified)' if code.get('modified') else ''}; run took {data['elapsed_s']} s", ""]
    rows = []
    lat = data.get("latency", {})
    if "portal" in lat:
        p, b = lat["portal"], lat["bare"]
        for name, limit in (("p50", LATENCY_P50_MS), ("p99", LATENCY_P99_MS)):
            rows.append([f"1. POST → alert frame {name}", f"{_ms(p['latency_ms'][name])} ms",
                         f"{_ms(b['latency_ms'][name])} ms (bare ASGI app)", f"≤ {limit:g} ms",
                         _verdict(data, "latency", f"POST → alert frame {name}")])
    best = best_ingest(data)
    if best:
        base = data["ingest"].get("baseline", {})
        copy = base.get("copy", {})
        rows.append([f"2. ingest over HTTP, best (w{best['workers']}, c{best['connections']})", f"{best['per_s']:,}/s",
                     f"COPY {copy.get('per_s', 0):,}/s", f"≥ {INGEST_RATE:,}/s", _verdict(data, "ingest", "≥")])
        if copy:
            rows.append(["   time vs COPY of the same rows", f"{copy['per_s'] / best['per_s']:.1f}×", "1×",
                         f"≤ {COPY_FACTOR:g}×", _verdict(data, "ingest", "≤")])
    if "rules" in data:
        r = data["rules"]
        rows.append([f"3. rules_sweep, {r['world']['levels']:,} levels (warm)", f"{min(x['s'] for x in r['steady']):.3f} s",
                     f"count(*) {r['baseline']['s']:.3f} s", f"≤ {RULES_SWEEP_S:g} s", _verdict(data, "rules", "rules_sweep over")])
        rows.append([f"   first sweep, raising {r['first']['raised']}", f"{r['first']['s']:.3f} s", "", f"≤ {RULES_SWEEP_S:g} s",
                     _verdict(data, "rules", "rules_sweep raising")])
        if "velocity" in r:
            rows.append([f"   with {r['velocity']['rules']:,} velocity rules", f"{min(x['s'] for x in r['velocity']['runs']):.3f} s",
                         "", f"≤ {RULES_SWEEP_S:g} s", _verdict(data, "rules", "rules_sweep with")])
    if "escalation" in data:
        e = data["escalation"]
        if e.get("rounds"):
            rows.append([f"4. escalation_sweep, {e['world']['open_alerts']:,} open, {e['rounds'][0]['due']} due (median)",
                         f"{e['rounds_median_s']:.3f} s", f"count(*) {e['baseline']['s']:.3f} s", f"≤ {ESCALATION_SWEEP_S:g} s",
                         _verdict(data, "escalation", "escalation_sweep")])
        rows.append(["   nothing due", f"{min(x['s'] for x in e['nothing_due']):.3f} s", "", "", ""])
        if e.get("big"):
            rows.append([f"   {e['big']['due']:,} due", f"{e['big']['s']:.3f} s", "", "(reported)", ""])
    lines.append(render_table(["measure", "portal", "baseline (same run)", "target", "result"], rows))

    if "portal" in lat:
        lines += ["", "1. Alert latency (ms): POST = the sender's HTTP round trip; after = frame arrival − POST response."]
        rows = []
        for name in ("portal", "bare"):
            x = lat[name]
            rows.append([name, x["sent"], x["missing"], _ms(x["latency_ms"]["p50"]), _ms(x["latency_ms"]["p90"]),
                         _ms(x["latency_ms"]["p99"]), _ms(x["latency_ms"]["max"]), _ms(x["post_ms"]["p50"]),
                         _ms(x["post_ms"]["p99"]), _ms(x["after_response_ms"]["p50"]), _ms(x["after_response_ms"]["p99"]),
                         fmt(x["rate_achieved"]), f"{x['cpu']['server']:.2f}", f"{x['cpu']['postgres']:.2f}", f"{x['cpu']['other']:.2f}"])
        lines.append(render_table(["server", "sent", "missing", "p50", "p90", "p99", "max", "POST p50", "POST p99",
                                   "after p50", "after p99", "rate/s", "server CPU", "pg CPU", "other CPU"], rows))

    if data.get("ingest", {}).get("configs"):
        ing = data["ingest"]
        lines += ["", f"2. Ingestion: batches of {data['config']['stock_ingest_batch']:,} movements, "
                      f"{data['config']['stock_ingest_crossing']} per batch crossing a safety line (alerts raised: "
                      f"{ing.get('alerts_raised', '—')})."]
        rows = []
        beside = ing.get("beside_bulk")
        diagnostics = [("no line crossed", ing.get("no_crossing")),
                       (f"beside {beside['beside_levels']:,}-SKU tenant" if beside else "", beside)]
        for label, c in [("", c) for c in ing["configs"]] + [(f"diag: {k}", v) for k, v in diagnostics if v]:
            rows.append([label, c["workers"], c["connections"], c["crossing_per_batch"], f"{c['movements']:,}", f"{c['wall_s']:.2f}", f"{c['per_s']:,}",
                         _ms(c["batch_ms"]["p50"]), _ms(c["batch_ms"]["p99"]), f"{c['cpu']['server']:.2f}",
                         f"{c['cpu']['postgres']:.2f}", f"{c['cpu']['sender']:.2f}", f"{c['cpu']['other']:.2f}"])
        lines.append(render_table(["", "workers", "conns", "crossing/batch", "movements", "wall s", "movements/s",
                                   "batch p50 ms", "batch p99 ms", "server CPU", "pg CPU", "client CPU", "other CPU"], rows))
        if ing.get("no_crossing") or ing.get("beside_bulk"):
            lines.append("diag rows (not targets): the same with no movement crossing a line; the best configuration again "
                         "once the database also holds part 3's tenant.")
        base = ing.get("baseline")
        if base:
            lines.append(f"Baselines, same {base['rows']:,} rows into a table like the movements table (its columns and "
                         f"indexes): COPY {base['copy']['per_s']:,}/s ({base['copy']['s']:.3f} s); with its 3 foreign keys too "
                         f"{base['copy_fk']['per_s']:,}/s; COPY per 1,000 + "
                         f"commit {base['copy_batches']['per_s']:,}/s; pipelined executemany {base['executemany']['per_s']:,}/s; "
                         f"one INSERT per commit {base['insert_commit']['per_s']:,}/s. Reference on a like machine: "
                         f"{REFERENCE['copy_rows_per_s']:,} / {REFERENCE['executemany_rows_per_s']:,} / "
                         f"{REFERENCE['insert_commit_rows_per_s']:,} rows/s.")

    if "rules" in data:
        r = data["rules"]
        w = r["world"]
        lines += ["", f"3. rules_sweep: {w['levels']:,} levels, {w['below_safety']:,} below safety, {w['open_alerts']:,} "
                      f"open alerts before (built in {w['build_s']} s). s = wall; SQL = statements / seconds in them. "
                      f"CPU meanwhile: sweep process {r['cpu']['sweeps']:.2f}, postgres {r['cpu']['postgres']:.2f}, "
                      f"other {r['cpu']['other']:.2f}."]
        rows = [["first (raises new)", f"{r['first']['s']:.3f}", r["first"]["sql_statements"], f"{r['first']['sql_s']:.3f}", r["first"]["raised"]]]
        rows += [[f"warm {i + 1}", f"{x['s']:.3f}", x["sql_statements"], f"{x['sql_s']:.3f}", x["raised"]] for i, x in enumerate(r["steady"])]
        if "velocity" in r:
            rows += [[f"{r['velocity']['rules']:,} velocity rules, {i + 1}", f"{x['s']:.3f}", x["sql_statements"],
                      f"{x['sql_s']:.3f}", x["raised"]] for i, x in enumerate(r["velocity"]["runs"])]
        rows.append(["baseline SELECT count(*)", f"{r['baseline']['s']:.3f}", 1, f"{r['baseline']['s']:.3f}", "—"])
        lines.append(render_table(["run", "s", "SQL statements", "SQL s", "raised"], rows))
        sel = r.get("select")
        if sel:
            lines.append(f"Diagnostic: the sweep's SELECT alone {sel['shipped_s']:.3f} s; the same question with the "
                         f"join of every rule with its level (the previous design) {sel['cte_s']:.3f} s "
                         f"({sel['rows']} rows, {'same rows' if sel['same_rows'] else 'DIFFERENT rows'}).")

    if "escalation" in data:
        e = data["escalation"]
        w = e["world"]
        lines += ["", f"4. escalation_sweep: {w['open_alerts']:,} open alerts; those made due: {w['raised']:,} raised through "
                      f"alert_raise ({w['raise_s']} s) and {w.get('copies', 0):,} copies of one ({w['cards_per_alert']} cards each, "
                      f"policy of {w['policy_levels']} levels); the rest inserted with SQL, due in an hour or more. "
                      f"CPU meanwhile: sweep process {e['cpu']['sweeps']:.2f}, postgres {e['cpu']['postgres']:.2f}, "
                      f"other {e['cpu']['other']:.2f}."]
        rows = [[f"nothing due {i + 1}", 0, x["escalated"], f"{x['s']:.3f}", x["sql_statements"], f"{x['sql_s']:.3f}", "—"]
                for i, x in enumerate(e["nothing_due"])]
        rows += [[f"round {i + 1}", x["due"], x["escalated"], f"{x['s']:.3f}", x["sql_statements"], f"{x['sql_s']:.3f}",
                  f"{x['per_alert_ms']:.2f}"] for i, x in enumerate(e["rounds"])]
        if e.get("big"):
            x = e["big"]
            rows.append(["big round", x["due"], x["escalated"], f"{x['s']:.3f}", x["sql_statements"], f"{x['sql_s']:.3f}",
                         f"{x['per_alert_ms']:.2f}"])
        for key, label in (("publisher_loop", "diag: one publisher loop"), ("no_publish", "diag: publishes skipped")):
            if e.get(key):
                x = e[key]
                rows.append([label, x["due"], x["escalated"], f"{x['s']:.3f}", x["sql_statements"], f"{x['sql_s']:.3f}",
                             f"{x['per_alert_ms']:.2f}"])
        rows.append(["baseline SELECT count(*)", "—", "—", f"{e['baseline']['s']:.3f}", 1, f"{e['baseline']['s']:.3f}", "—"])
        lines.append(render_table(["run", "due", "escalated", "s", "SQL statements", "SQL s", "ms/alert"], rows))
        if e.get("publisher_loop"):
            lines.append("diag rows (not targets): the same sweep with this process's publishes handed to one long-lived "
                         "event loop (realtime.set_server_loop, as the server does), and with publishes skipped.")

    noise = {}
    for k in ("portal", "bare"):
        if k in lat:
            noise[f"latency/{k}"] = lat[k]["cpu"]["other"]
    for c in data.get("ingest", {}).get("configs", []):
        noise[f"ingest w{c['workers']} c{c['connections']}"] = c["cpu"]["other"]
    for k in ("no_crossing", "beside_bulk"):
        if data.get("ingest", {}).get(k):
            noise[f"ingest diag {k}"] = data["ingest"][k]["cpu"]["other"]
    for k in ("rules", "escalation"):
        if k in data:
            noise[k] = data[k]["cpu"]["other"]
    lines.append("")
    lines.append(f"Other jobs on the machine used up to {max(noise.values(), default=0):.2f} CPUs while measuring "
                 f"(before the run: {data['background_cpu']['other']:.2f}).")
    noisy = {k: v for k, v in noise.items() if v > QUIET_CPUS}
    if noisy:
        lines.append(f"WARNING: more than {QUIET_CPUS} CPUs of other work during: "
                     + ", ".join(f"{k} ({v:.2f})" for k, v in noisy.items()) + "; re-run those when the machine is quiet.")
    failed = [c for c in data["checks"] if not c["ok"]]
    lines.append(f"{len(data['checks']) - len(failed)} of {len(data['checks'])} checks pass.")
    for c in failed:
        lines.append(f"  FAIL {c['part']}: {c['check']} (got {c['value']})")
    return "\n".join(lines)


def main(argv=None):
    """Runs this benchmark alone, as bench/run.py would: table on stdout, JSON in bench/results/."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_shared_arguments(parser)
    add_arguments(parser)
    options = parser.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    print(f"== {NAME}", flush=True)
    data = run(options)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    for path in (RESULTS / f"{NAME}-{stamp}.json", RESULTS / f"{NAME}-latest.json"):
        path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    print(report(data))
    print(f"\nResults: bench/results/{NAME}-{stamp}.json\n")
    return 0 if all(c["ok"] for c in data["checks"]) else 1


if __name__ == "__main__":
    sys.exit(main())
