"""orders: a supplier's PO list at 10^6 POs, and the ERP's upsert of 1,000 POs, through the real
server, each figure beside its floor measured in the same run.

    uvicorn scm_portal.asgi:application  +  PostgreSQL (fresh database, migrated, seed_demo)

1. A supplier's PO list: GET /api/v1/t/acme/purchase-orders/ as supa.rep (sup-a's rep), a page of
   50, in a tenant of 10^6 POs (half of them sup-a's; built with one INSERT … SELECT over
   generate_series by bench/orders_setup.py). First pages and pages reached through `next`
   cursors, one keep-alive connection, after a warm-up. Target: p99 ≤ 50 ms. Floor: the page's
   SQL (the same rows, joins and order) run with psycopg on the same database.
2. The ERP's upsert: POST /api/v1/t/acme/purchase-orders/batch/ as acme.buyer, 1,000 new POs of
   5 lines each in one request (fresh numbers each round), then the same body again (every PO
   unchanged: nothing written). Floor: COPY of the same 1,000 PO rows and 5,000 line rows into the
   same tables (the POs' ids read back for the lines) in one transaction, with psycopg. Target:
   the upsert (median of the rounds) within 10× of the COPY (median).

    .venv/bin/python bench/run.py orders
    .venv/bin/python bench/orders.py --orders-list-pos 100000     # a quicker look
"""

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    BENCH,
    PORTAL_SERVER_ARGS,
    PYTHON,
    REPO,
    RESULTS,
    VENV_BIN,
    CpuMeter,
    ThrowawayDatabase,
    add_shared_arguments,
    bench_redis_url,
    fmt,
    log,
    portal_env,
    render_table,
    spawn,
    stop,
    summary_ms,
    wait_for_port,
    wait_quiet,
    free_port,
)

NAME = "orders"
PASSWORD = "bench-demo-pw"
LIST_P99_TARGET_MS = 50.0
UPSERT_RATIO_TARGET = 10.0


def add_arguments(parser):
    g = parser.add_argument_group("orders")
    g.add_argument("--orders-list-pos", type=int, default=1_000_000, help="POs in the tenant for the list")
    g.add_argument("--orders-list-requests", type=int, default=400, help="measured list requests")
    g.add_argument("--orders-upsert-pos", type=int, default=1000, help="POs per upsert request")
    g.add_argument("--orders-upsert-lines", type=int, default=5, help="lines per PO")
    g.add_argument("--orders-rounds", type=int, default=5, help="upsert and COPY rounds")


def pg_connect(url, **kwargs):
    import psycopg

    return psycopg.connect(url.replace("postgres://", "postgresql://", 1), **kwargs)


def start_server(env, port, root):
    logpath = RESULTS / "logs" / "uvicorn-orders.log"
    logpath.parent.mkdir(parents=True, exist_ok=True)
    with open(logpath, "w") as logfile:
        proc = spawn([str(VENV_BIN / "uvicorn"), "scm_portal.asgi:application", "--host", "127.0.0.1", "--port", str(port),
                      "--workers", "1", *PORTAL_SERVER_ARGS, "--log-level", "warning", "--no-access-log"],
                     env=env, stdout=logfile, stderr=subprocess.STDOUT, cwd=root)
    wait_for_port(port, 60, proc)
    return proc


class Client:
    """One keep-alive HTTP connection with a token."""

    def __init__(self, port, token):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.headers = {"Authorization": f"Token {token}", "Accept": "application/json", "Content-Type": "application/json"}

    def call(self, method, path, body=None):
        started = time.perf_counter_ns()
        self.conn.request(method, path, body=body, headers=self.headers)
        response = self.conn.getresponse()
        data = response.read()
        elapsed_us = (time.perf_counter_ns() - started) // 1000
        if response.status >= 400:
            raise RuntimeError(f"{method} {path} answered {response.status}: {data[:500]!r}")
        return elapsed_us, json.loads(data)


def _path(url):
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


# --- 1. the supplier's list ----------------------------------------------------------------------

LIST_SQL = """
SELECT po.id, po.number, po.state, po.currency, po.version, po.created_at, po.sent_at, po.confirmed_at, o.slug, w.code
FROM orders_purchaseorder po JOIN tenancy_organization o ON o.id = po.supplier_id
JOIN inventory_warehouse w ON w.id = po.warehouse_id
WHERE po.tenant_id = %s AND po.supplier_id IN (%s) AND NOT po.state = 'draft' {after}
ORDER BY po.id DESC LIMIT 51"""


def measure_list(port, world, db_url, opts):
    client = Client(port, world["tokens"]["supa.rep"])
    base = f"/api/v1/t/{world['tenant']}/purchase-orders/"
    for _ in range(30):  # warm-up: imports, plans, caches
        client.call("GET", base)
    first, deeper = [], []
    meter = CpuMeter({}, database=urlsplit(db_url).path.lstrip("/")).start()
    next_url = None
    for i in range(opts.orders_list_requests):
        if i % 2 == 0 or next_url is None:
            elapsed, page = client.call("GET", base)
            first.append(elapsed)
        else:
            elapsed, page = client.call("GET", _path(next_url))
            deeper.append(elapsed)
        assert len(page["results"]) == 50, page
        next_url = page["next"]
    cpu = meter.stop()
    # The floor: the same page's SQL straight from psycopg (first pages and pages after an id).
    floor = []
    with pg_connect(db_url, autocommit=True) as conn:
        last_ids = []
        for i in range(opts.orders_list_requests + 30):
            after = "AND po.id < %s" if i % 2 and last_ids else ""
            params = [world["tenant_id"], world["sup_a"]] + ([last_ids[-1]] if after else [])
            started = time.perf_counter_ns()
            rows = conn.execute(LIST_SQL.format(after=after), params).fetchall()
            if i >= 30:
                floor.append((time.perf_counter_ns() - started) // 1000)
            last_ids.append(rows[-2][0])
    every = first + deeper
    return {"api": summary_ms(every), "first_pages": summary_ms(first), "cursor_pages": summary_ms(deeper),
            "floor_sql": summary_ms(floor), "cpu": cpu}


# --- 2. the ERP's upsert -------------------------------------------------------------------------

def upsert_rows(world, prefix, n_pos, n_lines):
    skus = world["skus"]
    return [{"number": f"{prefix}-{i:05d}", "supplier": "sup-a", "warehouse": world["warehouse"], "currency": "CNY",
             "lines": [{"line": j + 1, "sku": skus[(i * n_lines + j) % len(skus)], "quantity": 10 + j,
                        "unit_price": f"{1 + (i + j) % 97}.{(i * 7 + j) % 100:02d}", "requested_date": "2027-03-01"}
                       for j in range(n_lines)]} for i in range(n_pos)]


def copy_rows(conn, world, rows, ids):
    """COPY of the same rows into the same tables, one transaction: the floor."""
    now = "2026-12-01 00:00:00+00"
    with conn.transaction(), conn.cursor() as cur:
        with cur.copy("COPY orders_purchaseorder (tenant_id, number, supplier_id, warehouse_id, currency, state, note, "
                      "source, version, created_at, updated_at) FROM STDIN") as copy:
            for row in rows:
                copy.write_row((world["tenant_id"], row["number"], world["sup_a"], ids["warehouse"], "CNY", "draft", "",
                                "erp", 1, now, now))
        cur.execute("SELECT number, id FROM orders_purchaseorder WHERE tenant_id = %s AND number = ANY(%s)",
                    [world["tenant_id"], [row["number"] for row in rows]])
        order_ids = dict(cur.fetchall())
        with cur.copy("COPY orders_purchaseorderline (tenant_id, order_id, line, sku_id, quantity, unit_price, requested_date, "
                      "status, shipped_quantity, received_quantity, accepted_quantity, rejected_quantity) FROM STDIN") as copy:
            for row in rows:
                for line in row["lines"]:
                    copy.write_row((world["tenant_id"], order_ids[row["number"]], line["line"], ids["skus"][line["sku"]],
                                    line["quantity"], line["unit_price"], line["requested_date"], "open", 0, 0, 0, 0))


def measure_upsert(port, world, db_url, opts):
    client = Client(port, world["tokens"]["acme.buyer"])
    path = f"/api/v1/t/{world['tenant']}/purchase-orders/batch/"
    client.call("POST", path, json.dumps(upsert_rows(world, "WARM", 50, opts.orders_upsert_lines)))
    with pg_connect(db_url, autocommit=True) as conn:
        ids = {"warehouse": conn.execute("SELECT id FROM inventory_warehouse WHERE tenant_id = %s AND code = %s",
                                         [world["tenant_id"], world["warehouse"]]).fetchone()[0],
               "skus": dict(conn.execute("SELECT code, id FROM inventory_sku WHERE tenant_id = %s AND code LIKE 'BSKU-%%'",
                                         [world["tenant_id"]]).fetchall())}
    api, copies, unchanged = [], [], []
    body = None
    for round_ in range(opts.orders_rounds):
        body = json.dumps(upsert_rows(world, f"UPS{round_}", opts.orders_upsert_pos, opts.orders_upsert_lines))
        elapsed, result = client.call("POST", path, body)
        assert result["created"] == opts.orders_upsert_pos, result
        api.append(elapsed)
        rows = upsert_rows(world, f"CPY{round_}", opts.orders_upsert_pos, opts.orders_upsert_lines)
        with pg_connect(db_url) as conn:
            started = time.perf_counter_ns()
            copy_rows(conn, world, rows, ids)
            copies.append((time.perf_counter_ns() - started) // 1000)
    for _ in range(3):
        elapsed, result = client.call("POST", path, body)
        assert result["unchanged"] == opts.orders_upsert_pos, result
        unchanged.append(elapsed)
    median_api, median_copy = statistics.median(api), statistics.median(copies)
    return {"api_ms": [round(v / 1000, 1) for v in api], "copy_ms": [round(v / 1000, 1) for v in copies],
            "unchanged_ms": [round(v / 1000, 1) for v in unchanged], "median_api_ms": round(median_api / 1000, 1),
            "median_copy_ms": round(median_copy / 1000, 1), "ratio": round(median_api / median_copy, 2),
            "body_bytes": len(body)}


def run(opts):
    redis_url = bench_redis_url()
    root = Path(opts.server_root or REPO)
    quiet = wait_quiet(opts.wait_quiet)
    with ThrowawayDatabase() as db:
        env = portal_env(db.url, redis_url, root=opts.server_root)
        log(f"database {db.name}: migrate, seed_demo, {opts.orders_list_pos:,} POs")
        subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v0"], cwd=root, env=env, check=True)
        subprocess.run([PYTHON, "manage.py", "seed_demo", "--password", PASSWORD], cwd=root, env=env, check=True,
                       capture_output=True)
        started = time.monotonic()
        out = subprocess.run([PYTHON, str(BENCH / "orders_setup.py"), str(opts.orders_list_pos), "1000"],
                             cwd=root, env=env, check=True, capture_output=True, text=True)
        world = json.loads(out.stdout)
        log(f"setup: {world['pos']:,} POs in {time.monotonic() - started:.0f}s")
        port = free_port()
        proc = start_server(env, port, root)
        try:
            log("1. the supplier's PO list")
            listing = measure_list(port, world, db.url, opts)
            log("2. the ERP's upsert")
            upsert = measure_upsert(port, world, db.url, opts)
        finally:
            stop(proc)
    checks = [
        {"check": f"supplier's PO list p99 ≤ {LIST_P99_TARGET_MS:g} ms at {world['pos']:,} POs",
         "ok": listing["api"]["p99"] <= LIST_P99_TARGET_MS, "value": listing["api"]["p99"]},
        {"check": f"upsert of {opts.orders_upsert_pos:,} POs × {opts.orders_upsert_lines} lines within "
                  f"{UPSERT_RATIO_TARGET:g}× of COPY", "ok": upsert["ratio"] <= UPSERT_RATIO_TARGET, "value": upsert["ratio"]},
    ]
    return {"name": NAME, "quiet": quiet, "pos": world["pos"], "list": listing, "upsert": upsert, "checks": checks}


def report(data):
    listing, upsert = data["list"], data["upsert"]
    rows = [
        ["list via API, all pages", *(fmt(listing["api"][k]) for k in ("p50", "p90", "p99", "max"))],
        ["  first pages", *(fmt(listing["first_pages"][k]) for k in ("p50", "p90", "p99", "max"))],
        ["  pages after a cursor", *(fmt(listing["cursor_pages"][k]) for k in ("p50", "p90", "p99", "max"))],
        ["floor: the page's SQL", *(fmt(listing["floor_sql"][k], 2) for k in ("p50", "p90", "p99", "max"))],
    ]
    out = [f"A supplier's PO list, pages of 50, {data['pos']:,} POs in the tenant (ms)",
           render_table(["", "p50", "p90", "p99", "max"], rows), "",
           f"ERP upsert, one request ({upsert['body_bytes']:,} bytes)",
           render_table(["", "rounds (ms)", "median (ms)"], [
               ["POST batch/, all new", " ".join(map(str, upsert["api_ms"])), fmt(upsert["median_api_ms"])],
               ["POST batch/, unchanged", " ".join(map(str, upsert["unchanged_ms"])), fmt(statistics.median(upsert["unchanged_ms"]))],
               ["floor: COPY the same rows", " ".join(map(str, upsert["copy_ms"])), fmt(upsert["median_copy_ms"])],
           ]),
           f"ratio upsert / COPY: {upsert['ratio']}×", ""]
    out += [f"{'ok  ' if c['ok'] else 'MISS'} {c['check']} (value {c['value']})" for c in data["checks"]]
    return "\n".join(out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_shared_arguments(parser)
    add_arguments(parser)
    data = run(parser.parse_args())
    print(report(data))
    sys.exit(0 if all(c["ok"] for c in data["checks"]) else 1)
