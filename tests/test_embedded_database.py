"""Without DATABASE_URL, processes of a checkout share one embedded PostgreSQL server.

Each test runs `manage.py` in subprocesses with DATABASE_URL unset and a data directory of its
own (EMBEDDED_PGDATA), so a developer's .pgdata/ and the server this run may use stay untouched.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parent.parent
# Prints what the process reached: data directory, server start time, database, HOST (the socket directory).
PROBE = (
    "from django.db import connection\n"
    "def probe():\n"
    "    with connection.cursor() as cursor:\n"
    "        cursor.execute(\"SELECT current_setting('data_directory'), pg_postmaster_start_time()::text, \"\n"
    "                       \"current_database()\")\n"
    "        print(*cursor.fetchone(), connection.settings_dict['HOST'], sep='|', flush=True)\n"
    "probe()\n"
)
HOLD = PROBE + "input()\nprobe()\n"  # answers, waits for a line on stdin, answers again

pytestmark = pytest.mark.slow


def embedded_env(pgdata):
    env = {k: v for k, v in os.environ.items() if k not in {"PORTAL_ENV", "SECRET_KEY", "DJANGO_SETTINGS_MODULE"}}
    env.update(DATABASE_URL="", EMBEDDED_PGDATA=str(pgdata), DEBUG="1",
               DJANGO_SETTINGS_MODULE="scm_portal.settings.base")
    return env


def shell(pgdata, code=PROBE):
    result = subprocess.run([sys.executable, "manage.py", "shell", "--no-imports", "-c", code], cwd=ROOT,
                            env=embedded_env(pgdata), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip().split("|")


def hold(pgdata):
    """A process that stays on the server until a line is written to its stdin; its first answer."""
    process = subprocess.Popen([sys.executable, "manage.py", "shell", "--no-imports", "-c", HOLD], cwd=ROOT,
                               env=embedded_env(pgdata), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    assert line, process.stderr.read()
    return process, line.strip().split("|")


def server_processes(pgdata):
    """The postgres processes serving `pgdata`."""
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        if process.info["name"] == "postgres" and str(pgdata) in (process.info["cmdline"] or []):
            found.append(process)
    return found


def assert_stopped(pgdata):
    """Stopped cleanly: no postmaster left, and it removed its pid file on the way out (a killed
    one leaves it). A loaded machine may take a while for the shutdown checkpoint."""
    deadline = time.monotonic() + 30
    while (server_processes(pgdata) or (pgdata / "postmaster.pid").exists()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not server_processes(pgdata)
    assert not (pgdata / "postmaster.pid").exists()


@pytest.fixture(scope="module")
def pgdata(tmp_path_factory):
    path = tmp_path_factory.mktemp("embedded") / "pgdata"
    yield path
    for process in server_processes(path):  # only if a test failed half-way
        process.send_signal(signal.SIGINT)


def test_manage_py_comes_up_on_the_embedded_server_and_stops_it_on_exit(pgdata):
    data_directory, _started, database, host = shell(pgdata)
    assert (Path(data_directory), database, Path(host)) == (pgdata, "portal", pgdata)
    assert_stopped(pgdata)  # the only process using it has exited


def test_a_second_process_reaches_the_same_server_and_the_last_one_stops_it(pgdata):
    first, answer = hold(pgdata)
    try:
        assert shell(pgdata) == answer  # same data directory, same start: the same running server
        assert server_processes(pgdata)  # the second one's exit left it running for the first
        out, err = first.communicate("\n", timeout=60)
        assert first.returncode == 0, err
        assert out.strip().split("|") == answer
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert_stopped(pgdata)


def test_a_killed_run_leaves_the_server_to_the_next_run_which_stops_it(pgdata):
    first, answer = hold(pgdata)
    first.kill()  # SIGKILL: no exit handler runs, the server outlives it
    first.wait()
    assert server_processes(pgdata)
    assert shell(pgdata) == answer  # joined, not restarted
    assert_stopped(pgdata)  # and, the killed process forgotten, stopped as the last user left


@pytest.mark.parametrize("complete", [True, False])
def test_a_stale_postmaster_pid_does_not_stop_the_next_start(pgdata, complete):
    """The lock files of a server killed (complete: while running; else while starting) name a
    pid that another process has now, as after a reboot. That process is left alone."""
    shell(pgdata)  # initialised (the earlier tests may not have run)
    assert_stopped(pgdata)
    other = subprocess.Popen(["sleep", "120"])
    try:
        lines = [str(other.pid), str(pgdata), "1700000000", "5432", str(pgdata), "", "  5432001    0", "ready"]
        (pgdata / "postmaster.pid").write_text("\n".join(lines if complete else lines[:2]) + "\n")
        (pgdata / ".s.PGSQL.5432.lock").write_text(f"{other.pid}\n{pgdata}\n")
        data_directory, _started, database, _host = shell(pgdata)
        assert (Path(data_directory), database) == (pgdata, "portal")
        assert_stopped(pgdata)
        assert other.poll() is None  # neither taken for the server nor stopped as one
    finally:
        other.kill()
        other.wait()


def test_a_data_directory_too_deep_for_a_socket_path_gets_a_short_socket_directory(tmp_path):
    pgdata = tmp_path / ("deep" * 12) / ("deeper" * 10) / "pgdata"
    pgdata.parent.mkdir(parents=True)
    assert len(str(pgdata / ".s.PGSQL.5432")) > 108  # longer than a Unix socket path may be
    try:
        data_directory, _started, database, host = shell(pgdata)
        assert (Path(data_directory), database) == (pgdata, "portal")
        assert Path(host) != pgdata and len(str(Path(host) / ".s.PGSQL.5432")) < 108
        assert_stopped(pgdata)
    finally:
        for process in server_processes(pgdata):
            process.send_signal(signal.SIGINT)
