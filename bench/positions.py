"""positions: GPS positions over HTTP with the logistics rules applied, beside a COPY of the same rows.

    uvicorn scm_portal.asgi:application  +  Redis (channel layer)  +  PostgreSQL (fresh database)

10,000 shipments of sup-a in flight on one corridor (bench/positions_setup.py: their routes and
route indexes written set-based). supa.rep posts batches of 500 positions to
/api/v1/t/acme/shipments/positions/, each batch over 500 different shipments, every position
checked against its shipment's route (route_deviation, abnormal_stop); a few shipments
(--positions-detours) run 11 km off their route, so each raises its route_deviation alert once.
With 1 and 2 uvicorn workers and 1–4 client connections; the best is the figure.

Baseline, same run, same database: one COPY of the very rows the best configuration stored into
the same table (orders_position, its indexes and checks; its foreign keys deferred as Django
declares them), and a COPY per batch of 500, each committed.

Targets (issue 15, 2 cores): at least 5,000 positions/s, and within 10× of the COPY's time.

    .venv/bin/python bench/run.py positions
    .venv/bin/python bench/run.py positions --positions-workers 2 --positions-connections 2,4
"""

import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    BENCH,
    PYTHON,
    REPO,
    ThrowawayDatabase,
    bench_redis_url,
    fmt,
    free_port,
    log,
    portal_env,
    render_table,
    stop,
    summary_ms,
    wait_quiet,
)
from stock import PASSWORD, code_version, get_token, pg_connect, post_batches, start_server  # noqa: E402

NAME = "positions"
RATE_TARGET = 5_000  # positions/s over HTTP, batches of 500
COPY_FACTOR = 10.0
TENANT = "acme"
DETOUR_DEG = 0.10  # ≈ 11 km north of the corridor: past the default 5 km
POSITION_COLUMNS = ("tenant_id", "shipment_id", "lat", "lon", "at", "received_at")


def add_arguments(parser):
    g = parser.add_argument_group("positions")
    g.add_argument("--positions-shipments", type=int, default=10_000, help="shipments in flight")
    g.add_argument("--positions-route-points", type=int, default=50, help="points of each shipment's planned route")
    g.add_argument("--positions-batch", type=int, default=500, help="positions per POST")
    g.add_argument("--positions-batches", type=int, default=40, help="timed batches per configuration")
    g.add_argument("--positions-detours", type=int, default=20, help="shipments running off their route")
    g.add_argument("--positions-workers", default="1,2", help="uvicorn worker counts, e.g. 1,2")
    g.add_argument("--positions-connections", default="1,2,4", help="concurrent client connections, e.g. 2,4")


class Plan:
    """Batches over the shipments in turn: each batch covers `batch` different shipments, each
    shipment's fixes move on along the corridor with its own clock."""

    def __init__(self, world, batch, detours):
        self.ids = world["shipments"]
        self.route = world["route"]
        self.tenant_id = world["tenant_id"]
        self.batch = batch
        self.detouring = set(self.ids[:detours])
        self.sent = {}  # shipment id -> fixes so far
        self.cursor = 0
        self.base = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=2)

    def _fix(self, shipment_id):
        n = self.sent.get(shipment_id, 0)
        self.sent[shipment_id] = n + 1
        (lat1, lon1), (lat2, lon2) = self.route[0], self.route[-1]
        f = min(n * 0.004, 1.0)  # ≈ 320 m a fix along the ~80 km corridor
        lat, lon = lat1 + (lat2 - lat1) * f, lon1 + (lon2 - lon1) * f
        if shipment_id in self.detouring:
            lat += DETOUR_DEG
        return lat, lon, self.base + datetime.timedelta(minutes=n)

    def make(self, count):
        out = []
        for _ in range(count):
            rows = []
            for _k in range(self.batch):
                shipment_id = self.ids[self.cursor % len(self.ids)]
                self.cursor += 1
                lat, lon, at = self._fix(shipment_id)
                rows.append((shipment_id, lat, lon, at))
            body = json.dumps([{"shipment": s, "lat": lat, "lon": lon, "at": at.isoformat()} for s, lat, lon, at in rows])
            out.append((body.encode(), rows))
        return out


def prepare(db_url, redis_url, opts):
    env = portal_env(db_url, redis_url, root=opts.server_root)
    root = opts.server_root or REPO
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v0"], cwd=root, env=env, check=True)
    subprocess.run([PYTHON, "manage.py", "seed_demo", "--password", PASSWORD], cwd=root, env=env, check=True,
                   capture_output=True)
    out = subprocess.run([PYTHON, str(BENCH / "positions_setup.py"), str(opts.positions_shipments),
                          str(opts.positions_route_points)], cwd=root, env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout), env


def alerts_raised(db_url):
    with pg_connect(db_url) as conn:
        return conn.execute("SELECT count(*) FROM alerts_alert WHERE kind = 'route_deviation'").fetchone()[0]


def run_config(plan, port, token, workers, connections, opts):
    path = f"/api/v1/t/{TENANT}/shipments/positions/"
    warm = plan.make(2 * connections)
    post_batches(port, token, path, [b for b, _r in warm], connections)
    batches = plan.make(opts.positions_batches)
    records = post_batches(port, token, path, [b for b, _r in batches], connections)
    wall = max(r[1] for r in records) - min(r[0] for r in records)
    created = sum(r[2] for r in records)
    return {
        "workers": workers, "connections": connections, "batches": len(batches), "positions": created,
        "wall_s": round(wall, 3), "per_s": round(created / wall),
        "batch_ms": summary_ms([int((r[1] - r[0]) * 1e6) for r in records]),
    }, [row for _b, rows in batches for row in rows]


def copy_floor(db_url, tenant_id, rows):
    """The rows into orders_position: one COPY (best of two), and a COPY per batch, each committed.
    The copies are deleted after each timing (they carry a received_at of their own)."""
    marker = datetime.datetime(2001, 1, 1, tzinfo=datetime.UTC)
    data = [(tenant_id, s, lat, lon, at, marker) for s, lat, lon, at in rows]
    cols = ", ".join(POSITION_COLUMNS)
    out = {"rows": len(data)}
    with pg_connect(db_url) as conn:
        def clean():
            conn.execute("DELETE FROM orders_position WHERE received_at = %s", [marker])
            conn.commit()

        def copy(chunk):
            with conn.cursor() as cur, cur.copy(f"COPY orders_position ({cols}) FROM STDIN") as cp:
                for row in chunk:
                    cp.write_row(row)
            conn.commit()

        copy(data[:500])
        clean()
        best = None
        for _ in range(2):
            t0 = time.perf_counter()
            copy(data)
            elapsed = time.perf_counter() - t0
            best = elapsed if best is None else min(best, elapsed)
            clean()
        out["copy"] = {"s": round(best, 4), "per_s": round(len(data) / best)}
        t0 = time.perf_counter()
        for start in range(0, len(data), 500):
            copy(data[start:start + 500])
        elapsed = time.perf_counter() - t0
        out["copy_batches"] = {"s": round(elapsed, 4), "per_s": round(len(data) / elapsed)}
        clean()
    return out


def run(opts):
    workers = [int(x) for x in opts.positions_workers.split(",") if x]
    connections = [int(x) for x in opts.positions_connections.split(",") if x]
    redis_url = bench_redis_url()
    started = time.monotonic()
    data = {
        "benchmark": NAME,
        "started_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count()},
        "code": code_version(),
        "config": {k: v for k, v in vars(opts).items() if k.startswith("positions_")},
        "targets": {"per_s": RATE_TARGET, "copy_factor": COPY_FACTOR},
        "configs": [],
    }
    with ThrowawayDatabase() as db:
        log(f"database {db.name}: migrate, seed_demo, {opts.positions_shipments:,} shipments in flight")
        world, env = prepare(db.url, redis_url, opts)
        data["world"] = {"shipments": len(world["shipments"]), "cells_per_shipment": world["cells_per_shipment"],
                         "route_points": len(world["route"]), "threshold_m": world["threshold_m"]}
        plan = Plan(world, opts.positions_batch, opts.positions_detours)
        best_rows, best = None, None
        for w in workers:
            port = free_port()
            server = start_server("scm_portal.asgi:application", env, port, w, f"positions-w{w}.log", root=opts.server_root)
            try:
                token = get_token(port, "supa.rep")
                for c in connections:
                    data.setdefault("quiet", []).append(wait_quiet(min(opts.wait_quiet, 15), database=db.name))
                    log(f"workers {w}, connections {c}: {opts.positions_batches} batches of {opts.positions_batch}")
                    config, rows = run_config(plan, port, token, w, c, opts)
                    data["configs"].append(config)
                    if best is None or config["per_s"] > best["per_s"]:
                        best, best_rows = config, rows
            finally:
                stop(server)
        data["route_deviation_alerts"] = alerts_raised(db.url)
        log(f"COPY floor: the {len(best_rows):,} rows of the best configuration into orders_position")
        data["copy"] = copy_floor(db.url, world["tenant_id"], best_rows)
    data["best"] = best
    data["elapsed_s"] = round(time.monotonic() - started, 1)
    data["checks"] = checks(data)
    return data


def checks(data):
    best, copy = data["best"], data["copy"]["copy"]
    portal_s = best["positions"] / best["per_s"]
    return [
        {"check": f"positions/s over HTTP ≥ {RATE_TARGET:,}", "ok": best["per_s"] >= RATE_TARGET, "value": best["per_s"]},
        {"check": f"within {COPY_FACTOR:g}× of COPY into the same table", "ok": portal_s <= COPY_FACTOR * copy["s"],
         "value": round(portal_s / copy["s"], 1)},
        {"check": "each detouring shipment raised one route_deviation alert", "ok":
         data["route_deviation_alerts"] == data["config"]["positions_detours"], "value": data["route_deviation_alerts"]},
    ]


def report(data):
    rows = [[c["workers"], c["connections"], f"{c['positions']:,}", fmt(c["wall_s"], 2), f"{c['per_s']:,}",
             fmt(c["batch_ms"]["p50"]), fmt(c["batch_ms"]["p99"])] for c in data["configs"]]
    lines = [render_table(["workers", "connections", "positions", "wall s", "positions/s", "batch p50 ms", "batch p99 ms"], rows)]
    copy = data["copy"]
    lines.append(f"\nCOPY floor ({copy['rows']:,} rows into orders_position): one COPY {copy['copy']['s']} s "
                 f"({copy['copy']['per_s']:,}/s); a COPY per batch of 500 {copy['copy_batches']['s']} s "
                 f"({copy['copy_batches']['per_s']:,}/s)")
    lines.append(f"World: {data['world']['shipments']:,} shipments, {data['world']['route_points']} route points, "
                 f"{data['world']['cells_per_shipment']} route cells each; route_deviation alerts raised: "
                 f"{data['route_deviation_alerts']}")
    lines.append("")
    for check in data["checks"]:
        lines.append(f"{'✔' if check['ok'] else '✘'} {check['check']}: {check['value']}")
    return "\n".join(lines)


if __name__ == "__main__":
    import argparse

    from _common import add_shared_arguments

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_shared_arguments(parser)
    add_arguments(parser)
    result = run(parser.parse_args())
    print(report(result))
    sys.exit(0 if all(c["ok"] for c in result["checks"]) else 1)
