"""Real server processes for the socket tests: a private redis-server the tests may stop and start
(never the shared one), and uvicorn processes sharing it and a throwaway database."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

from tests.e2e.conftest import DEMO_PASSWORD, REPO, ThrowawayDatabase, _free_port, _run_manage, _server_env, _stop, _wait_until_serving

__all__ = ["DEMO_PASSWORD", "PrivateRedis", "Servers"]


class PrivateRedis:
    """redis-server on a port of its own, in a temporary directory, without persistence."""

    def __init__(self, directory):
        self.directory = Path(directory)
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.pidfile = self.directory / "redis.pid"

    def start(self):
        subprocess.run(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--daemonize", "yes", "--pidfile", str(self.pidfile), "--dir", str(self.directory),
             "--logfile", str(self.directory / "redis.log")],
            check=True, timeout=10,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                if redis.Redis.from_url(self.url, socket_timeout=1).ping():
                    return
            except redis.exceptions.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self):
        """Kills this redis-server (only ever the one this object started) and waits until it is gone."""
        pid = int(self.pidfile.read_text().strip())
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        self.pidfile.unlink(missing_ok=True)

    def running(self):
        return self.pidfile.exists()


class Servers:
    """`count` uvicorn processes on the production settings (PostgreSQL per DATABASE_URL or the embedded server,
    the Redis channel layer and cache at `redis_url`), migrated and seeded."""

    def __init__(self, redis_url, count=2):
        self.tmp_dir = Path(tempfile.mkdtemp(prefix="scm-live-"))
        self.database = ThrowawayDatabase()
        self.env = _server_env(self.database.url)
        self.env.update({"DJANGO_SETTINGS_MODULE": "scm_portal.settings.base", "REDIS_URL": redis_url})
        self.count = count
        self.processes, self.hosts = [], []
        self.log_path = self.tmp_dir / "servers.log"

    def start(self):
        self.database.create()
        self.log = open(self.log_path, "w")
        _run_manage(self.env, "migrate", "--noinput", "-v0", log=self.log)
        _run_manage(self.env, "seed_demo", "--password", DEMO_PASSWORD, log=self.log)
        for _ in range(self.count):
            port = _free_port()
            process = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "scm_portal.asgi:application", "--host", "127.0.0.1", "--port", str(port),
                 "--lifespan", "on", "--ws", "websockets-sansio", "--ws-per-message-deflate", "false", "--no-access-log"],
                cwd=REPO, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
            )
            self.processes.append(process)
            self.hosts.append(f"127.0.0.1:{port}")
            _wait_until_serving(f"http://{self.hosts[-1]}/accounts/login/", process, self.log_path)
        return self

    def manage_shell(self, code):
        """Runs Python in a `manage.py shell` of the servers' settings and database; returns its stdout."""
        result = subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=REPO, env=self.env,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def log_text(self):
        self.log.flush()
        return self.log_path.read_text()

    def stop(self):
        for process in self.processes:
            _stop(process)
        self.log.close()
        self.database.drop()
        shutil.rmtree(self.tmp_dir, ignore_errors=True)
