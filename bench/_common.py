"""Pieces every benchmark shares: throwaway PostgreSQL databases, child processes, percentiles, tables."""

import json
import math
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
RESULTS = BENCH / "results"
PYTHON = sys.executable
VENV_BIN = Path(PYTHON).parent
# uvicorn options the portal is served with in production (`make up`), beside the benchmark's own.
# permessage-deflate is off there: frames are small JSON, and compressing each one per socket costs
# CPU and a zlib context per connection for little saving.
PORTAL_SERVER_ARGS = ["--lifespan", "on", "--ws", "websockets-sansio", "--ws-per-message-deflate", "false"]


def add_shared_arguments(parser):
    """Options every benchmark reads; added once, by bench/run.py or by a benchmark run alone."""
    g = parser.add_argument_group("all benchmarks")
    g.add_argument("--server-root", default=str(REPO),
                   help="run the portal from this checkout (same venv), e.g. to compare a branch")
    g.add_argument("--wait-quiet", type=float, default=120,
                   help="wait up to this many seconds for other jobs on the machine to go quiet before measuring")


def bench_redis_url():
    """BENCH_REDIS_URL, else REDIS_URL's server with database 15: the portal's cache keys (socket
    access counters per tenant id) must not collide with other servers or tests on the same Redis."""
    if os.environ.get("BENCH_REDIS_URL"):
        return os.environ["BENCH_REDIS_URL"]
    parts = urlsplit(os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL)
    return urlunsplit((parts.scheme, parts.netloc, "/15", parts.query, parts.fragment))


def portal_env(db_url, redis_url, *, layer="pubsub", root=None, extra=()):
    """The production-like environment of a portal server. bench.settings is the portal's settings
    with the channel layer `layer` and a per-run channel prefix, so nothing published here reaches
    another server sharing the Redis. `root`: the portal checkout to serve (bench.settings stays ours);
    `extra`: KEY=VALUE strings."""
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "PORTAL_ENV"}}
    env.update({
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "BENCH_CHANNEL_LAYER": layer,
        "BENCH_CHANNEL_PREFIX": f"bench{secrets.token_hex(4)}",
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": "bench-only-" + secrets.token_urlsafe(32),
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "EMBEDDED_SCHEDULER": "0",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    })
    if root is not None:
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([str(root), str(REPO)]))  # the portal, then bench.settings
    env.update(dict(kv.split("=", 1) for kv in extra))
    return env

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


# --- PostgreSQL ---------------------------------------------------------------------------------

def _with_database(url, name):
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


class ThrowawayDatabase:
    """A database `bench_<random>` next to the one BENCH_DATABASE_URL / DATABASE_URL names; dropped at the end."""

    def __init__(self, server_url=None):
        self.server_url = server_url or os.environ.get("BENCH_DATABASE_URL") or os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
        if urlsplit(self.server_url).scheme not in {"postgres", "postgresql", "pgsql"}:
            raise SystemExit(f"bench: needs PostgreSQL, got {self.server_url!r} (set BENCH_DATABASE_URL)")
        self.name = f"bench_{secrets.token_hex(5)}"
        self.url = _with_database(self.server_url, self.name)

    def _admin(self):
        import psycopg

        parts = urlsplit(_with_database(self.server_url, "postgres"))
        return psycopg.connect(urlunsplit(("postgresql", parts.netloc, parts.path, parts.query, "")), autocommit=True)

    def __enter__(self):
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        return self

    def __exit__(self, *exc):
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


# --- Processes ----------------------------------------------------------------------------------

def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port, timeout, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def stop(proc, timeout=10):
    """Ends one child we started (its process group, so uvicorn's workers go too)."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def spawn(args, env=None, cwd=REPO, **kwargs):
    """A child in its own process group (so `stop` ends it and its children, and nothing else)."""
    return subprocess.Popen(args, cwd=cwd, env=env, start_new_session=True, **kwargs)


class LineProcess:
    """A child that talks JSON lines over stdin/stdout."""

    def __init__(self, args, env=None):
        self.proc = spawn(args, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def send(self, obj):
        self.proc.stdin.write(json.dumps(obj) + "\n")
        self.proc.stdin.flush()

    def recv(self):
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"child {self.proc.args[1:2]} exited ({self.proc.poll()})")
        return json.loads(line)

    def close(self):
        try:
            if self.proc.poll() is None:
                self.send({"cmd": "quit"})
                self.proc.wait(10)
        except Exception:
            pass
        stop(self.proc)


# --- Numbers ------------------------------------------------------------------------------------

def percentile(sorted_values, p):
    """Nearest-rank percentile of an already sorted list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def summary_ms(values_us):
    """p50/p90/p99/max in milliseconds of latencies given in microseconds."""
    values = sorted(values_us)
    out = {"n": len(values)}
    for name, p in (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100)):
        v = percentile(values, p)
        out[name] = None if v is None else round(v / 1000, 3)
    return out


def fmt(value, digits=1):
    if value is None:
        return "—"
    if isinstance(value, (int, float)) and abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def render_table(headers, rows):
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(str(h)) for i, h in enumerate(headers)]
    line = "  ".join(str(h).ljust(w) for h, w in zip(headers, widths))
    out = [line, "  ".join("-" * w for w in widths)]
    for r in rows:
        out.append("  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths))))
    return "\n".join(out)


_T0 = time.monotonic()


def log(*parts):
    print(f"  {time.monotonic() - _T0:6.1f}s ·", *parts, file=sys.stderr, flush=True)


# --- Who used the CPUs --------------------------------------------------------------------------

_HZ = os.sysconf("SC_CLK_TCK")


def _backend_database(pid):
    """The database a PostgreSQL backend serves, from its process title:
    "postgres: [cluster: ]user database host state"."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            title = f.read().replace(b"\0", b" ").decode(errors="replace").split()
    except OSError:
        return None
    if not title or title[0] != "postgres:":
        return None
    title = title[1:]
    if title and title[0].endswith(":"):  # cluster_name
        title = title[1:]
    return title[1] if len(title) >= 4 else None


def _proc_table():
    """pid -> (comm, session, own cpu ticks, ticks of reaped children)."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                raw = f.read()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1:raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2:].split()
        # fields[0] is state (field 3 in proc(5)); session is field 6; utime, stime, cutime, cstime are 14-17
        table[int(entry.name)] = (comm, int(fields[3]), int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14]))
    return table


def _machine_ticks():
    """Busy ticks of all CPUs: user, nice, system, irq, softirq (not idle, iowait or steal)."""
    with open("/proc/stat") as f:
        user, nice, system, _idle, _iowait, irq, softirq = (int(x) for x in f.readline().split()[1:8])
    return user + nice + system + irq + softirq


class CpuMeter:
    """How many CPUs each party used during a window (CPU-seconds per second of wall time).

    `groups` names process sessions we started, e.g. {"server": [pid], "clients": [pid, pid]}
    (children started with start_new_session: the session id is the child's pid); "sender" is
    this process; Redis is recognised by name; "other" is any other process on the machine
    (PostgreSQL backends serving another database than `database` included) — another job
    running at the same time makes the figures noisy. "postgres" is the rest of what the
    machine did: PostgreSQL's processes, including the short-lived backends of a server that
    opens a connection per request, which are gone before they could be counted one by one.
    """

    def __init__(self, groups, database=None):
        self.groups = {session: name for name, pids in groups.items() for session in pids}
        self.database = database

    def _classify(self, pid, comm, session):
        if pid == os.getpid():
            return "sender"
        if session in self.groups:
            return self.groups[session]
        if comm.startswith("postgres") or comm.startswith("postmaster"):
            db = _backend_database(pid) if self.database else None
            return "other" if db is not None and db != self.database else "postgres"
        if comm.startswith("redis"):
            return "redis"
        return "other"

    def start(self):
        self.t0, self.m0, self.p0 = time.monotonic(), _machine_ticks(), _proc_table()
        return self

    def stop(self):
        elapsed = max(time.monotonic() - self.t0, 1e-6)
        m1, p1 = _machine_ticks(), _proc_table()
        machine = m1 - self.m0
        used = dict.fromkeys([*dict.fromkeys(self.groups.values()), "sender", "redis", "other"], 0)
        for pid, (comm, session, own, children) in p1.items():
            kind = self._classify(pid, comm, session)
            if kind == "postgres":
                continue  # the remainder, below
            before = self.p0.get(pid)
            # Reaped children count for their parent, except PostgreSQL's (the postmaster reaps
            # every database's backends, ours and others').
            delta = own + children - ((before[2] + before[3]) if before else 0)
            used[kind] += max(delta, 0)
        accounted = sum(v for k, v in used.items() if k != "other")
        used["other"] = min(used["other"], max(machine - accounted, 0))
        used["postgres"] = max(machine - accounted - used["other"], 0)
        out = {k: round(v / _HZ / elapsed, 2) for k, v in used.items()}
        out["machine"] = round(machine / _HZ / elapsed, 2)
        out["seconds"] = round(elapsed, 2)
        return out


QUIET_CPUS = 0.25  # other jobs using more than this share of the machine make the figures noisy


def wait_quiet(limit_s, database=None):
    """Samples what else runs on the machine; waits (up to limit_s) while something else is busy.
    With `database` named, PostgreSQL work for any other database counts as someone else's; without
    one (nothing of ours runs yet), all of PostgreSQL's does."""
    deadline = time.monotonic() + limit_s
    while True:
        meter = CpuMeter({}, database=database).start()
        time.sleep(2)
        sample = meter.stop()
        if database is None:
            sample["other"] = round(sample["other"] + sample["postgres"], 2)
        busy = sample["other"]
        if busy <= QUIET_CPUS or time.monotonic() >= deadline:
            if busy > QUIET_CPUS:
                log(f"the machine is busy with other work ({busy} CPUs); figures will be noisy")
            return sample
        log(f"other work is using {busy} CPUs; waiting for the machine to go quiet")
        time.sleep(3)
