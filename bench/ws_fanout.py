"""ws_fanout: one message to a room of N open sockets, through the real server.

    uvicorn scm_portal.asgi:application  +  Redis (channel layer)  +  PostgreSQL (fresh database)

For each channel layer (the shipped RedisPubSubChannelLayer and the core RedisChannelLayer) and
each room size (10, 100, 1,000 sockets) it measures, with the sockets spread over separate client
processes (bench/ws_fanout_client.py):

- latency: a sender sends chat messages at a steady rate, two ways, each measured on its own:
  over its own socket (the contract's `send` frame, answered by an `ack`: the same harness as
  the bare broadcaster's sender) and by POST to /api/v1/t/<tenant>/rooms/<id>/messages/ (the
  REST API). Either way the figure covers auth and access checks, the database write + commit,
  the channel-layer publish and the fan-out; per delivery, latency = the socket's receive time
  minus the send time written in the message body (`time.time_ns()`, one clock). p50/p99 per size.
- throughput: a burst of messages sent as fast as the server takes them (several sockets or HTTP
  connections); deliveries/s = deliveries received / (last receive − first send).

Baselines measured in the same run:
- Redis PUBLISH→SUBSCRIBE round trip (redis-py asyncio, one process);
- a bare `websockets` broadcaster (bench/ws_bare_broadcaster.py) measured with the identical
  client processes, room sizes, message shape, rates and bursts (the sender writes to it over a
  socket);
- the store-then-relay floor (bench/ws_bare_durable.py): the same broadcaster committing each
  frame to PostgreSQL before relaying it, the least a relay whose database is the truth does.

Also reported, to show where the time goes: the send round trip, and the fan-out part alone
(receive time − the message's `created_at`, stamped in the database transaction).
"""

import asyncio
import datetime
import http.client
import itertools
import json
import os
import secrets
import shlex
import subprocess
import threading
import time
from urllib.parse import urlsplit

from _common import (
    BENCH,
    PYTHON,
    RESULTS,
    VENV_BIN,
    QUIET_CPUS,
    CpuMeter,
    bench_redis_url,
    portal_env,
    PORTAL_SERVER_ARGS,
    LineProcess,
    ThrowawayDatabase,
    fmt,
    free_port,
    log,
    percentile,
    render_table,
    spawn,
    stop,
    summary_ms,
    wait_for_port,
    wait_quiet,
)

NAME = "ws_fanout"

# Targets (from the issue), for this 2-core machine.
P99_TARGET_MS = {10: 25.0, 100: 40.0, 1000: 150.0}
DELIVERIES_TARGET = 10_000  # per second, for rooms of 1,000 sockets
BARE_FACTOR = 2.0  # shown beside the floor: what the floor alone costs against the bare broadcaster
# The portal's p99 within 3x the store-then-relay floor's, same harness (issue 13: it replaces "2x the
# bare broadcaster", which no design that commits before it publishes can meet for small rooms).
FLOOR_FACTOR = 3.0
REFERENCE_REDIS = {"p50": 0.17, "p99": 0.26}  # ms, measured on a machine like this one

LAYERS = {  # name -> backend (chosen in bench/settings.py by BENCH_CHANNEL_LAYER)
    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
    "core": "channels_redis.core.RedisChannelLayer",
}

# Per room size: steady rate (messages/s, meant to stay under saturation so the figure is
# latency, not queueing), timed messages at that rate, and the burst's size.
DEFAULT_RATES = {10: 25, 100: 25, 1000: 5}
DEFAULT_MESSAGES = {10: 200, 100: 200, 1000: 75}
DEFAULT_BURSTS = {10: 200, 100: 100, 1000: 40}

PAD = " 请确认 PO-20240611-0042 第3行的交期, qty 1,200 @ ¥18.50; ETA 2024-06-20 (warehouse WH-SZ-02)."


def add_arguments(parser):
    g = parser.add_argument_group("ws_fanout")
    g.add_argument("--sizes", default="10,100,1000", help="room sizes (sockets), comma-separated")
    g.add_argument("--layers", default="pubsub,core", help="channel layers: pubsub, core")
    g.add_argument("--workers", default="1", help="uvicorn worker counts to measure, e.g. 1,2")
    g.add_argument("--client-procs", type=int, default=2, help="client processes holding the sockets")
    g.add_argument("--messages", default="", help="timed messages at the steady rate, e.g. 200 or 10:200,1000:100")
    g.add_argument("--warmup", type=int, default=10, help="untimed messages before each measurement")
    g.add_argument("--rates", default="", help="steady rates (messages/s), e.g. 25 or 10:25,100:25,1000:5")
    g.add_argument("--bursts", default="", help="burst sizes, e.g. 10:200,100:100,1000:40")
    g.add_argument("--send-via", default="socket,http",
                   help="how the sender sends: socket (the contract's send frame, as the bare sender does), http (POST)")
    g.add_argument("--burst-connections", type=int, default=4, help="connections (sockets or HTTP) sending the burst")
    g.add_argument("--phase-max-s", type=float, default=15,
                   help="stop sending a phase after this long (a server that cannot keep up is reported, not waited for)")
    g.add_argument("--no-bare", action="store_true", help="skip the bare broadcaster baseline")
    g.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE",
                   help="extra environment for the portal server (repeatable), e.g. DB_CONN_MAX_AGE=60")
    g.add_argument("--uvicorn-args", default="", help="extra uvicorn options, e.g. '--ws-per-message-deflate false'")


def _size_map(text, default, sizes, fallback):
    """"10:25,1000:5" (per size) or "25" (every size) over the defaults."""
    out = {n: default.get(n, fallback) for n in sizes}
    for part in filter(None, text.split(",")):
        k, _, v = part.rpartition(":")
        value = float(v) if "." in v else int(v)
        if k:
            out[int(k)] = value
        else:
            out = dict.fromkeys(sizes, value)
    return out


def body_for(phase, i, send_ns):
    return f"b|{phase}|{i}|{send_ns}|{PAD}"


def _iso_ns(text):
    return int(datetime.datetime.fromisoformat(text).timestamp() * 1_000_000) * 1000


# --- senders --------------------------------------------------------------------------------------

class HttpSender:
    """Posts chat messages through the API over one keep-alive connection."""

    IDLE_REOPEN_S = 2.0  # uvicorn drops keep-alive connections idle for 5 s

    def __init__(self, port, token, tenant, room_id):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.last_used = time.monotonic()
        self.path = f"/api/v1/t/{tenant}/rooms/{room_id}/messages/"
        self.headers = {"Authorization": f"Token {token}", "Content-Type": "application/json",
                        "Accept": "application/json", "Host": "127.0.0.1"}

    def _post(self, payload):
        if time.monotonic() - self.last_used > self.IDLE_REOPEN_S:
            self.conn.close()
        try:
            self.conn.request("POST", self.path, payload, self.headers)
            response = self.conn.getresponse()
        except (ConnectionError, http.client.RemoteDisconnected):
            # The server closed the idle connection under us; the request never reached the view.
            self.conn.close()
            self.conn.request("POST", self.path, payload, self.headers)
            response = self.conn.getresponse()
        data = response.read()
        self.last_used = time.monotonic()
        return response, data

    def send(self, phase, i):
        send_ns = time.time_ns()
        payload = json.dumps({"body": body_for(phase, i, send_ns), "client_id": f"{phase}-{i}-{send_ns}"})
        response, data = self._post(payload)
        done_ns = time.time_ns()
        if response.status != 201:
            raise RuntimeError(f"POST {self.path}: {response.status} {data[:300]!r}")
        frame = json.loads(data)
        return {"i": i, "send_ns": send_ns, "done_ns": done_ns, "created_ns": _iso_ns(frame["created_at"]), "seq": frame["seq"]}

    def close(self):
        self.conn.close()


class SocketSender:
    """Sends chat messages over the portal's own socket (the contract's `send` frame), the way the
    bare broadcaster's sender writes to it: the same client harness on both sides. A send is done
    when the server's `ack` arrived; the message's own frame (this socket's user sees the room too)
    gives its `created_at`."""

    def __init__(self, port, token, tenant, room_id):
        from websockets.sync.client import connect

        self.room_id = room_id
        self.ws = connect(f"ws://127.0.0.1:{port}/ws/t/{tenant}/?token={token}", proxy=None, max_size=2**22)
        hello = json.loads(self.ws.recv(timeout=60))
        if hello.get("type") != "hello":
            raise RuntimeError(f"expected hello, got {hello.get('type')}")

    def send(self, phase, i):
        send_ns = time.time_ns()
        client_id = f"{phase}-{i}-{send_ns}"
        self.ws.send(json.dumps({"type": "send", "room": self.room_id, "body": body_for(phase, i, send_ns),
                                 "client_id": client_id}, ensure_ascii=False, separators=(",", ":")))
        ack = message = None
        done_ns = None
        while ack is None or message is None:
            frame = json.loads(self.ws.recv(timeout=120))
            kind = frame.get("type")
            if kind == "ack" and frame.get("client_id") == client_id:
                ack, done_ns = frame, time.time_ns()
            elif kind == "message" and frame.get("client_id") == client_id:
                message = frame
            elif kind in ("error", "resync"):
                raise RuntimeError(f"socket send: {frame}")
        return {"i": i, "send_ns": send_ns, "done_ns": done_ns, "created_ns": _iso_ns(message["created_at"]),
                "seq": ack["seq"]}

    def close(self):
        self.ws.close()


class BareSender:
    """Writes a frame shaped like the portal's message frame to the bare broadcaster."""

    seq = itertools.count(1)

    def __init__(self, port):
        from websockets.sync.client import connect

        self.ws = connect(f"ws://127.0.0.1:{port}/send", proxy=None, max_size=2**22)

    def send(self, phase, i):
        send_ns = time.time_ns()
        body = body_for(phase, i, send_ns)
        seq = next(self.seq)
        frame = {
            "type": "message", "room": 3, "seq": seq, "kind": "chat",
            "sender": {"id": 1, "username": "bench.sender", "name": "bench.sender"},
            "body": body, "body_html": f"<p>{body}</p>", "payload": {}, "actions": [], "subject": None,
            "internal": False, "recipient": None, "refers_to": None, "relation": "",
            "client_id": f"{phase}-{i}-{send_ns}", "attachments": [], "hash": secrets.token_hex(32),
            "created_at": datetime.datetime.now(datetime.UTC).isoformat(),
        }
        self.ws.send(json.dumps(frame, ensure_ascii=False, separators=(",", ":")))
        done_ns = time.time_ns()
        return {"i": i, "send_ns": send_ns, "done_ns": done_ns, "created_ns": send_ns, "seq": seq}

    def close(self):
        self.ws.close()


def send_steady(sender, phase, count, rate, max_s):
    """`count` messages at `rate`/s on a fixed schedule (a late send goes at once, not skipped);
    stops early when the server is so slow that the phase would outlast `max_s`."""
    records = []
    start = time.monotonic()
    for i in range(count):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        elif time.monotonic() - start > max_s:
            break
        records.append(sender.send(phase, i))
    return records, time.monotonic() - start


def send_burst(make_sender, phase, count, connections, max_s):
    """`count` messages as fast as they are taken, over `connections` parallel senders (stops
    early after `max_s`)."""
    counter = itertools.count()
    deadline = time.monotonic() + max_s
    records, errors = [], []
    lock = threading.Lock()
    senders = [make_sender() for _ in range(connections)]

    def work(sender):
        try:
            while (i := next(counter)) < count and time.monotonic() < deadline:
                record = sender.send(phase, i)
                with lock:
                    records.append(record)
        except Exception as exc:  # reported, not swallowed
            errors.append(exc)

    start = time.monotonic()
    threads = [threading.Thread(target=work, args=(s,)) for s in senders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    for s in senders:
        s.close()
    if errors:
        raise errors[0]
    return records, elapsed


# --- the client processes ------------------------------------------------------------------------

class Clients:
    def __init__(self, urls, procs, hello):
        self.procs = []
        shares = [urls[k::procs] for k in range(min(procs, len(urls)))]
        for share in shares:
            p = LineProcess([PYTHON, str(BENCH / "ws_fanout_client.py")])
            p.send({"urls": share, "hello": hello, "connect_concurrency": 50})
            self.procs.append(p)
        self.ready = [p.recv() for p in self.procs]
        self.connected = sum(r["connected"] for r in self.ready)
        self.failed = sum(r["failed"] for r in self.ready)
        self.connect_s = max(r["connect_s"] for r in self.ready)
        if self.failed:
            errors = [e for r in self.ready for e in r["errors"]]
            raise RuntimeError(f"{self.failed} of {len(urls)} sockets failed to connect: {errors[:3]}")

    def wait(self, phase, expect, timeout):
        """Until every socket has `expect` messages of the phase (or the timeout); True when complete."""
        for p in self.procs:
            p.send({"cmd": "wait", "phase": phase, "expect": expect, "timeout": timeout})
        return all(r["count"] >= r["want"] for r in [p.recv() for p in self.procs])

    def dump(self, settle=1.0, timeout=15):
        for p in self.procs:
            p.send({"cmd": "dump", "settle": settle, "timeout": timeout})
        return [p.recv() for p in self.procs]

    def close(self):
        for p in self.procs:
            p.close()


def measure_phase(dumps, records, phase, n_sockets):
    """What the clients saw of one phase: latency per delivery and throughput."""
    by_index = {r["i"]: r for r in records}
    lat, fanout = [], []
    received, last_recv = 0, None
    for dump in dumps:
        seen = dump["phases"].get(phase)
        if not seen:
            continue
        received += seen["count"]
        if seen["last_ns"] and (last_recv is None or seen["last_ns"] > last_recv):
            last_recv = seen["last_ns"]
        for i, l_us in zip(seen["idx"], seen["lat_us"]):
            lat.append(l_us)
            rec = by_index.get(i)
            if rec is not None:
                fanout.append(l_us - (rec["created_ns"] - rec["send_ns"]) // 1000)
    first_send = min((r["send_ns"] for r in records), default=None)
    wall = (last_recv - first_send) / 1e9 if last_recv and first_send else None
    post = [(r["done_ns"] - r["send_ns"]) // 1000 for r in records]
    return {
        "messages": len(records),
        "sockets": n_sockets,
        "expected": len(records) * n_sockets,
        "received": received,
        "missing": len(records) * n_sockets - received,  # never arrived, even after waiting
        "closed_sockets": sum(d["n_closed"] for d in dumps),
        "latency_ms": summary_ms(lat),
        "fanout_ms": summary_ms(fanout),
        "send_ms": summary_ms(post),
        "wall_s": round(wall, 3) if wall else None,
        "deliveries_per_s": round(received / wall) if wall else None,
    }


def run_size(n, urls, make_sender, opts, hello, server_pid, database=None):
    """Warm-up, steady-rate latency and a burst for one room size against one server."""
    rate, count, burst = opts.rates[n], opts.messages[n], opts.bursts[n]
    clients = Clients(urls, opts.client_procs, hello)
    groups = {"server": [server_pid], "clients": [p.proc.pid for p in clients.procs]}
    try:
        time.sleep(0.5)
        out = {"connect_s": clients.connect_s}
        sender = make_sender()
        try:
            warmup, _ = send_steady(sender, "w", opts.warmup, rate, opts.phase_max_s)
            clients.wait("w", len(warmup), 20)
            meter = CpuMeter(groups, database).start()
            steady, steady_s = send_steady(sender, "s", count, rate, opts.phase_max_s)
            clients.wait("s", len(steady), 10)
            steady_cpu = meter.stop()
        finally:
            sender.close()
        meter = CpuMeter(groups, database).start()
        bursted, burst_s = send_burst(make_sender, "b", burst, opts.burst_connections, opts.phase_max_s)
        clients.wait("b", len(bursted), 15)
        burst_cpu = meter.stop()
        dumps = clients.dump()
        out["warmup"] = measure_phase(dumps, warmup, "w", n)
        out["steady"] = measure_phase(dumps, steady, "s", n)
        out["steady"].update(cpu=steady_cpu, rate_target=rate, rate_achieved=round(len(steady) / steady_s, 2),
                             cut_short=len(steady) < count)
        out["burst"] = measure_phase(dumps, bursted, "b", n)
        out["burst"].update(cpu=burst_cpu, send_rate=round(len(bursted) / burst_s, 1), cut_short=len(bursted) < burst)
        return out
    finally:
        clients.close()


# --- servers --------------------------------------------------------------------------------------

def start_portal(env, port, workers, logfile, root, extra_args=()):
    args = [str(VENV_BIN / "uvicorn"), "scm_portal.asgi:application", "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers), *PORTAL_SERVER_ARGS, "--log-level", "warning", "--no-access-log", *extra_args]
    proc = spawn(args, env=env, stdout=logfile, stderr=subprocess.STDOUT, cwd=root)
    wait_for_port(port, 60, proc)
    return proc


def wait_portal_ready(port, world, timeout=60):
    deadline = time.monotonic() + timeout
    path = f"/api/v1/t/{world['tenant']}/rooms/"
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", path, headers={"Authorization": f"Token {world['sender_token']}", "Host": "127.0.0.1"})
            response = conn.getresponse()
            response.read()
            conn.close()
            if response.status == 200:
                return
            raise RuntimeError(f"GET {path}: {response.status}")
        except (ConnectionError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


SENDERS = {  # --send-via name -> what the sender uses
    "socket": "the socket's `send` frame, acked (the bare broadcaster's harness)",
    "http": "HTTP POST /api/v1/t/<tenant>/rooms/<id>/messages/",
}


def run_portal(opts, world, db_url, redis_url, layer, workers):
    """{send path: {room size: figures}} for one server (one channel layer, `workers` processes)."""
    port = free_port()
    logpath = RESULTS / "logs" / f"uvicorn-{layer}-w{workers}.log"
    logpath.parent.mkdir(parents=True, exist_ok=True)
    results = {via: {} for via in opts.send_via}
    with open(logpath, "w") as logfile:
        env = portal_env(db_url, redis_url, layer=layer, root=opts.server_root)
        env.update(dict(kv.split("=", 1) for kv in opts.server_env))
        proc = start_portal(env, port, workers, logfile, opts.server_root, shlex.split(opts.uvicorn_args))
        try:
            wait_portal_ready(port, world)
            for n in opts.sizes:
                room = world["rooms"][str(n)]
                urls = [f"ws://127.0.0.1:{port}/ws/t/{world['tenant']}/?token={t}" for t in room["tokens"]]
                for via in opts.send_via:
                    log(f"portal {layer} layer, {workers} worker(s), sent over {via}: room of {n}")
                    sender_class = SocketSender if via == "socket" else HttpSender

                    def make_sender(room=room, sender_class=sender_class):
                        return sender_class(port, world["sender_token"], world["tenant"], room["id"])

                    try:
                        results[via][n] = run_size(n, urls, make_sender, opts, hello=True, server_pid=proc.pid,
                                                   database=urlsplit(db_url).path.lstrip("/"))
                    except Exception as exc:
                        log(f"  failed: {type(exc).__name__}: {exc}")
                        results[via][n] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
        finally:
            stop(proc)
            drop_redis_keys(redis_url, env["BENCH_CHANNEL_PREFIX"])
    return results


def drop_redis_keys(redis_url, prefix):
    """The core layer leaves group keys behind (kept for a day); this run's prefix is its own."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        for k in range(0, len(keys), 500):
            client.delete(*keys[k:k + 500])
    finally:
        client.close()


def run_bare(opts, script="ws_bare_broadcaster.py", extra_args=(), label="bare broadcaster", database=None):
    port = free_port()
    proc = spawn([PYTHON, str(BENCH / script), str(port), *extra_args])
    results = {}
    try:
        wait_for_port(port, 30, proc)
        for n in opts.sizes:
            log(f"{label}: room of {n}")
            urls = [f"ws://127.0.0.1:{port}/"] * n
            results[n] = run_size(n, urls, lambda: BareSender(port), opts, hello=False, server_pid=proc.pid,
                                  database=database)
    finally:
        stop(proc)
    return results


def redis_roundtrip(redis_url, count=2000, warmup=200):
    """PUBLISH on one connection, time until the subscribed connection has the message."""

    async def go():
        import redis.asyncio as aioredis

        channel = f"bench:rt:{secrets.token_hex(4)}"
        payload = body_for("r", 0, 0).encode() * 6  # about the size of a message frame
        sub_client, pub = aioredis.from_url(redis_url), aioredis.from_url(redis_url)
        sub = sub_client.pubsub()
        await sub.subscribe(channel)
        while await sub.get_message(timeout=1.0) is None:
            pass  # the subscribe confirmation
        samples = []
        for k in range(count + warmup):
            t0 = time.perf_counter_ns()
            await pub.publish(channel, payload)
            while await sub.get_message(ignore_subscribe_messages=True, timeout=1.0) is None:
                pass
            if k >= warmup:
                samples.append((time.perf_counter_ns() - t0) // 1000)
        await sub.unsubscribe(channel)
        await sub.aclose()
        await sub_client.aclose()
        await pub.aclose()
        return samples

    try:
        import uvloop

        samples = uvloop.run(go())
    except ImportError:
        samples = asyncio.run(go())
    out = summary_ms(samples)
    values = sorted(samples)  # sub-millisecond: keep microseconds too
    out.update({"p50_us": percentile(values, 50), "p99_us": percentile(values, 99)})
    return out


# --- the run ----------------------------------------------------------------------------------------

def source_version(root):
    """The commit the measured portal is at, and whether its tree had uncommitted changes."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                    capture_output=True, text=True, check=True).stdout.strip())
        return {"commit": commit, "uncommitted_changes": dirty}
    except (OSError, subprocess.CalledProcessError):
        return None


def setup_world(db_url, sizes, root):
    """Migrates the fresh database and creates the rooms, with the portal's own settings and code."""
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DJANGO_SETTINGS_MODULE"}}
    env.update({"DATABASE_URL": db_url, "DJANGO_SETTINGS_MODULE": "scm_portal.settings.base", "DEBUG": "0",
                "SECRET_KEY": "bench-setup-" + secrets.token_urlsafe(16), "EMBEDDED_SCHEDULER": "0", "LOG_LEVEL": "WARNING"})
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v0"], cwd=root, env=env, check=True)
    out = subprocess.run([PYTHON, str(BENCH / "ws_fanout_setup.py"), ",".join(map(str, sizes))], cwd=root, env=env,
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def run(opts):
    opts.sizes = sorted({int(s) for s in opts.sizes.split(",")})
    opts.rates = _size_map(opts.rates, DEFAULT_RATES, opts.sizes, 10)
    opts.messages = _size_map(opts.messages, DEFAULT_MESSAGES, opts.sizes, 100)
    opts.bursts = _size_map(opts.bursts, DEFAULT_BURSTS, opts.sizes, 50)
    layers = [x for x in opts.layers.split(",") if x]
    opts.send_via = [x for x in opts.send_via.split(",") if x]
    if not opts.send_via or set(opts.send_via) - set(SENDERS):
        raise SystemExit(f"ws_fanout: --send-via takes {', '.join(SENDERS)}")
    if set(layers) - set(LAYERS):
        raise SystemExit(f"ws_fanout: unknown layer(s) {sorted(set(layers) - set(LAYERS))}; known: {', '.join(LAYERS)}")
    workers = [int(x) for x in opts.workers.split(",") if x]
    redis_url = bench_redis_url()
    started = time.monotonic()
    data = {
        "benchmark": NAME,
        "started_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count()},
        "source": source_version(opts.server_root),
        "config": {"sizes": opts.sizes, "layers": layers, "workers": workers, "client_procs": opts.client_procs,
                   "messages": {str(k): opts.messages[k] for k in opts.sizes}, "warmup": opts.warmup,
                   "rates": {str(k): opts.rates[k] for k in opts.sizes},
                   "bursts": {str(k): opts.bursts[k] for k in opts.sizes}, "burst_connections": opts.burst_connections,
                   "send_via": {via: SENDERS[via] for via in opts.send_via},
                   "layers_backends": {k: LAYERS[k] for k in layers}, "redis": redis_url,
                   "server_env": opts.server_env, "uvicorn_args": opts.uvicorn_args, "server_root": opts.server_root},
        "targets": {"p99_ms": {str(k): v for k, v in P99_TARGET_MS.items()}, "deliveries_per_s": DELIVERIES_TARGET,
                    "bare_factor": BARE_FACTOR},
        "reference": {"redis_roundtrip_ms": REFERENCE_REDIS},
    }
    data["background_cpu"] = wait_quiet(opts.wait_quiet)
    log("Redis PUBLISH→SUBSCRIBE round trip")
    data["redis"] = redis_roundtrip(redis_url)
    if not opts.no_bare:
        data["bare"] = run_bare(opts)
        with ThrowawayDatabase() as db:
            data["floor"] = run_bare(opts, "ws_bare_durable.py", [db.url], "store-then-relay floor", database=db.name)
    with ThrowawayDatabase() as db:
        log(f"database {db.name}: migrate + {sum(opts.sizes)} room members")
        world = setup_world(db.url, opts.sizes, opts.server_root)
        data["portal"] = {}
        for layer in layers:
            for w in workers:
                for via, per_size in run_portal(opts, world, db.url, redis_url, layer, w).items():
                    data["portal"][f"{layer}/w{w}/{via}"] = per_size
    data["elapsed_s"] = round(time.monotonic() - started, 1)
    data["checks"] = checks(data)
    return data


# --- verdicts and the table ----------------------------------------------------------------------------

def checks(data):
    out = []
    floor = data.get("floor", {})
    for config, per_size in data["portal"].items():
        for n, res in per_size.items():
            n = int(n)
            if "error" in res:
                out.append({"config": config, "size": n, "kind": "ran", "check": "the measurement ran", "value": res["error"],
                            "ok": False})
                continue
            p99 = res["steady"]["latency_ms"]["p99"]
            missing = res["steady"]["missing"] + res["burst"]["missing"]
            closed = res["burst"]["closed_sockets"]
            if n in P99_TARGET_MS:
                out.append({"config": config, "size": n, "kind": "p99", "check": f"p99 ≤ {P99_TARGET_MS[n]:g} ms",
                            "value": p99, "ok": p99 is not None and p99 <= P99_TARGET_MS[n]})
            f = floor.get(n) or floor.get(str(n))
            # Against the floor only with the same harness: its sender writes to a socket.
            if f and config.endswith("/socket"):
                limit = FLOOR_FACTOR * f["steady"]["latency_ms"]["p99"]
                out.append({"config": config, "size": n, "kind": "floor",
                            "check": f"p99 ≤ {FLOOR_FACTOR:g}× floor p99 ({limit:.1f} ms)",
                            "value": p99, "ok": p99 is not None and p99 <= limit})
            if n >= 1000:
                dps = res["burst"]["deliveries_per_s"]
                out.append({"config": config, "size": n, "kind": "throughput", "check": f"≥ {DELIVERIES_TARGET:,} deliveries/s",
                            "value": dps, "ok": dps is not None and dps >= DELIVERIES_TARGET})
            out.append({"config": config, "size": n, "kind": "complete", "check": "every delivery arrived, no socket closed",
                        "value": {"missing": missing, "closed": closed}, "ok": missing == 0 and closed == 0})
    return out


def report(data):
    redis = data["redis"]
    bare = data.get("bare", {})
    lines = [
        f"ws_fanout — send→receive through uvicorn + Redis + PostgreSQL; {data['machine']['cpus']} CPUs; "
        f"{data['config']['client_procs']} client processes; senders: "
        + "; ".join(f"{via} = {what}" for via, what in data["config"].get("send_via", {}).items()),
        f"Baseline Redis PUBLISH→SUBSCRIBE round trip: p50 {redis['p50_us'] / 1000:.3f} ms, p99 {redis['p99_us'] / 1000:.3f} ms "
        f"(reference on a like machine: p50 {REFERENCE_REDIS['p50']} ms, p99 {REFERENCE_REDIS['p99']} ms)",
        "",
    ]
    verdicts = {(c["config"], c["size"], c["kind"]): c for c in data["checks"]}

    def mark(config, n, kind):
        c = verdicts.get((config, n, kind))
        return "—" if c is None else ("PASS" if c["ok"] else "FAIL")

    def bare_of(n):
        return bare.get(n) or bare.get(str(n))

    floor = data.get("floor", {})

    def floor_of(n):
        return floor.get(n) or floor.get(str(n))

    if floor:
        lines.append("Baselines, same harness: bare = relays each frame as it comes; floor = stores it first (lock the "
                     "room, insert with seq and chain link, COMMIT: one statement, one PostgreSQL round trip), then relays it.")
        headers = ["room", "bare p50", "bare p99", "2× bare p99", "floor p50", "floor p99", "floor p99 ≤ 2× bare p99"]
        rows = []
        for n in sorted({int(k) for k in bare} & {int(k) for k in floor}):
            b, d = bare_of(n)["steady"]["latency_ms"], floor_of(n)["steady"]["latency_ms"]
            rows.append([n, fmt(b["p50"]), fmt(b["p99"]), fmt(BARE_FACTOR * b["p99"]), fmt(d["p50"]), fmt(d["p99"]),
                         "yes" if d["p99"] <= BARE_FACTOR * b["p99"] else "no: below what storing alone costs"])
        lines.append(render_table(headers, rows))
        lines.append("")

    headers = ["layer/workers/sent over", "room", "rate/s", "p50 ms", "p99 ms", "bare p50", "bare p99", "target p99", "p99≤target",
               "floor p99", "p99≤3×floor", "deliv/s", "bare deliv/s", "≥10k/s", "missing"]
    rows = []
    for config, per_size in data["portal"].items():
        for n, res in per_size.items():
            n = int(n)
            if "error" in res:
                rows.append([config, n, "error"] + ["—"] * (len(headers) - 3))
                continue
            s, b, bs = res["steady"], res["burst"], bare_of(n)
            rows.append([
                config, n, fmt(s["rate_achieved"]), fmt(s["latency_ms"]["p50"]), fmt(s["latency_ms"]["p99"]),
                fmt(bs["steady"]["latency_ms"]["p50"]) if bs else "—", fmt(bs["steady"]["latency_ms"]["p99"]) if bs else "—",
                fmt(P99_TARGET_MS.get(n)), mark(config, n, "p99"),
                fmt(floor_of(n)["steady"]["latency_ms"]["p99"]) if floor_of(n) else "—", mark(config, n, "floor"),
                fmt(b["deliveries_per_s"], 0), fmt(bs["burst"]["deliveries_per_s"], 0) if bs else "—",
                mark(config, n, "throughput"), s["missing"] + b["missing"],
            ])
    lines.append(render_table(headers, rows))
    lines.append("")
    lines.append("Where the time goes (ms). Steady phase: send = the sender's round trip (HTTP response, or the "
                 "socket's ack); fan-out = receive − the message's created_at (commit + publish + delivery). "
                 "Burst: latency under load.")
    headers = ["layer/workers/sent over", "room", "send p50", "send p99", "fan-out p50", "fan-out p99", "bare p50", "bare p99",
               "burst p50", "burst p99", "bare burst p99", "burst posts/s", "server CPUs", "other CPUs", "connect s"]
    rows = []
    for config, per_size in data["portal"].items():
        for n, res in per_size.items():
            if "error" in res:
                continue
            s, b, bs = res["steady"], res["burst"], bare_of(int(n))
            rows.append([config, n, fmt(s["send_ms"]["p50"]), fmt(s["send_ms"]["p99"]), fmt(s["fanout_ms"]["p50"]),
                         fmt(s["fanout_ms"]["p99"]), fmt(bs["steady"]["latency_ms"]["p50"]) if bs else "—",
                         fmt(bs["steady"]["latency_ms"]["p99"]) if bs else "—",
                         fmt(b["latency_ms"]["p50"]), fmt(b["latency_ms"]["p99"]),
                         fmt(bs["burst"]["latency_ms"]["p99"]) if bs else "—", fmt(b["send_rate"]),
                         f"{s['cpu']['server']:.2f}/{b['cpu']['server']:.2f}",
                         f"{max(s['cpu']['other'], b['cpu']['other']):.2f}", fmt(res["connect_s"])])
    lines.append(render_table(headers, rows))
    lines.append("server CPUs: CPU-seconds per second used by the server during the steady phase / the burst "
                 "(1.00 = one core busy). other CPUs: what other jobs on the machine used meanwhile. "
                 "connect s: time to open the room's sockets (2 client processes, 50 handshakes in flight each).")
    # (a window under a second is too short for 10 ms CPU ticks to say anything)
    noisy = max([data["background_cpu"]["other"]]
                + [res[ph]["cpu"]["other"] for per_size in data["portal"].values()
                   for res in per_size.values() if "error" not in res for ph in ("steady", "burst")
                   if res[ph]["cpu"]["seconds"] >= 1]
                + [res[ph]["cpu"]["other"] + res[ph]["cpu"]["postgres"] for res in bare.values() for ph in ("steady", "burst")
                   if res[ph]["cpu"]["seconds"] >= 1]
                + [res[ph]["cpu"]["other"] for res in floor.values() for ph in ("steady", "burst")
                   if res[ph]["cpu"]["seconds"] >= 1])
    if noisy > QUIET_CPUS:
        lines.append(f"WARNING: other jobs used up to {noisy:.2f} CPUs while measuring; these figures are noisy.")
    failed = [c for c in data["checks"] if not c["ok"]]
    lines.append("")
    lines.append(f"{len(data['checks']) - len(failed)} of {len(data['checks'])} checks pass; run took {data['elapsed_s']} s.")
    for c in failed:
        lines.append(f"  FAIL {c['config']} room {c['size']}: {c['check']} (got {c['value']})")
    return "\n".join(lines)
