"""The portal as `make run` and `make up` serve it, tested through the real server process.

Each server is started with the Makefile's own recipe: `make -n` prints it, and the exports and
the uvicorn command it runs are taken from there (`makefile_serve_script`), so these tests and
the Makefile cannot drift apart. Only the database differs: a throwaway one (tests/e2e/conftest.py),
migrated and loaded with the demo data once for the module.

What the Django test client cannot show: uvicorn's handling of forwarded headers (the login
lockout), database connections dropped under a running server, and the error pages a visitor of
`make run` sees.
"""

import http.client
import json
import os
import re
import secrets
import shlex
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from tests.e2e.conftest import DEMO_PASSWORD, REPO, ThrowawayDatabase, _free_port, _run_manage, _stop

pytestmark = pytest.mark.slow

SERVER_START_TIMEOUT = 60  # seconds
# What the test process's environment must not hand to a server started as `make run` is.
NOT_INHERITED = {
    "DJANGO_SETTINGS_MODULE", "DEBUG", "SECRET_KEY", "PORTAL_ENV", "ALLOWED_HOSTS", "SECURE_SSL_REDIRECT",
    "TRUSTED_PROXY_COUNT", "DB_POOL", "DB_CONN_MAX_AGE", "REDIS_URL", "CELERY_BROKER_URL", "DJANGO_ALLOW_ASYNC_UNSAFE",
    "WEB_CONCURRENCY", "DATABASE_URL",
}


def makefile_serve_script(target, *, host, port):
    """The shell script that starts `make <target>`'s uvicorn: the recipe's exports and its uvicorn
    command, as `make -n` prints them, with this interpreter's uvicorn instead of .venv's."""
    dry = subprocess.run(
        ["make", "-n", "--no-print-directory", target, f"HOST={host}", f"PORT={port}"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )
    assert dry.returncode == 0, dry.stderr
    recipe = next(line for line in dry.stdout.replace("\\\n", " ").splitlines() if "bin/uvicorn " in line)
    exports = re.findall(r"\bexport\s+\w+=[^;&|]*", recipe)
    command = re.search(r"\S*bin/uvicorn(\s[^&;|]*)", recipe)
    uvicorn = shlex.quote(str(Path(sys.executable).with_name("uvicorn")))
    return "; ".join([*exports, f"exec {uvicorn}{command.group(1)} --no-access-log"])


class Server:
    def __init__(self, port, log_path):
        self.host, self.port, self.log_path = "127.0.0.1", port, log_path
        self.base_url = f"http://127.0.0.1:{port}"

    def request(self, method, path, *, body=None, headers=(), token=None):
        """(status, headers, body) of one request on a fresh connection; redirects are not followed."""
        connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            sent = {"Accept": "application/json", **dict(headers)}
            if token:
                sent["Authorization"] = f"Token {token}"
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                sent["Content-Type"] = "application/json"
            connection.request(method, path, body=data, headers=sent)
            response = connection.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            connection.close()

    def login(self, username, password=DEMO_PASSWORD, headers=()):
        status, _, body = self.request(
            "POST", "/api/v1/auth/token/", body={"username": username, "password": password}, headers=headers
        )
        return status, json.loads(body)

    def token(self, username):
        return self.token_via({}, username)

    def token_via(self, headers, username="acme.buyer"):
        status, body = self.login(username, headers=headers)
        assert status == 200, body
        return body["token"]

    def log(self):
        return self.log_path.read_text(errors="replace")


@pytest.fixture(scope="module")
def portal_database():
    """A throwaway database, migrated and loaded as `make run` does it (manage.py, base settings)."""
    database = ThrowawayDatabase()
    database.create()
    log_dir = Path(tempfile.mkdtemp(prefix="scm-served-"))
    try:
        with open(log_dir / "setup.log", "w") as log:
            env = development_env(database.url)
            _run_manage(env, "migrate", "--noinput", "-v0", log=log)
            _run_manage(env, "seed_demo", "--password", DEMO_PASSWORD, log=log)
        yield database
    finally:
        database.drop()


def development_env(database_url, **extra):
    """`make run`'s environment: nothing set but the database (here a throwaway one)."""
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    env.update(DATABASE_URL=database_url, PYTHONUNBUFFERED="1", **extra)
    return env


def production_env(database_url, **extra):
    """What `make up` needs besides its recipe's own exports (PORTAL_ENV=production), one worker."""
    return development_env(
        database_url, SECRET_KEY="served-test-" + secrets.token_urlsafe(32), ALLOWED_HOSTS="127.0.0.1",
        WEB_CONCURRENCY="1", **extra,
    )


def _wait_until_serving(server, process):
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode}:\n{server.log()}", pytrace=False)
        try:
            server.request("GET", "/accounts/login/")
            return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"the server did not answer within {SERVER_START_TIMEOUT}s:\n{server.log()}", pytrace=False)


@pytest.fixture(scope="module")
def serve(portal_database):
    """serve(target, env) -> a running Server started with `make <target>`'s recipe; stopped at the
    end of the module. The same (target, env) is started once."""
    log_dir = Path(tempfile.mkdtemp(prefix="scm-served-"))
    running = {}

    def start(target, env):
        key = (target, tuple(sorted(env.items())))
        if key not in running:
            port = _free_port()
            server = Server(port, log_dir / f"{target}-{port}.log")
            script = makefile_serve_script(target, host="127.0.0.1", port=port)
            with open(server.log_path, "w") as log:
                process = subprocess.Popen(
                    ["bash", "-c", script], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
                )
            running[key] = (server, process)
            _wait_until_serving(server, process)
        return running[key][0]

    try:
        yield start
    finally:
        for _server, process in running.values():
            _stop(process)


@pytest.fixture
def clear_lockouts(portal_database):
    """Every test starts with no failed logins on record (the servers share the database): a test
    that logs in must not depend on which lockout test ran before it."""
    with connect(portal_database.url) as conn:
        conn.execute("DELETE FROM axes_accessattempt")


def connect(url):
    parts = urlsplit(url)
    return psycopg.connect(urlunsplit(("postgresql", parts.netloc, parts.path, parts.query, "")), autocommit=True)


# --- 5. Dropped database connections ------------------------------------------------------------

def terminate_backends(database_url):
    """Ends every other session on the portal's database, as a restart, a failover or an idle
    kill does; returns when they are gone. How many it ended."""
    with connect(database_url) as conn:
        pids = [row[0] for row in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )]
        conn.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", [pids])
        deadline = time.monotonic() + 10
        while conn.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", [pids]).fetchone()[0]:
            assert time.monotonic() < deadline, "terminated backends did not exit"
            time.sleep(0.05)
    return len(pids)


@pytest.mark.parametrize(
    "connections", [{}, {"DB_POOL": "0", "DB_CONN_MAX_AGE": "60"}], ids=["pool", "persistent"]
)
def test_dropped_database_connections_fail_no_request(serve, portal_database, clear_lockouts, connections):
    server = serve("run", development_env(portal_database.url, **connections))
    token = server.token("acme.buyer")
    paths = ["/api/v1/me/", "/api/v1/t/acme/rooms/"]

    def get(index):
        return server.request("GET", paths[index % len(paths)], token=token)[0]

    def concurrently(count):
        with ThreadPoolExecutor(count) as pool:
            return list(pool.map(get, range(count)))

    assert set(concurrently(15)) == {200}  # every connection the server keeps is open now
    for round_ in range(2):
        assert terminate_backends(portal_database.url) >= 1
        sequential = [get(i) for i in range(15)]
        assert sequential == [200] * 15, f"round {round_}, one after another: {sequential}\n{server.log()[-3000:]}"
        assert terminate_backends(portal_database.url) >= 1
        together = concurrently(15)
        assert together == [200] * 15, f"round {round_}, all at once: {together}\n{server.log()[-3000:]}"


# --- 1. Forwarded headers: only TRUSTED_PROXY_COUNT makes the portal believe them ---------------

def server_without_proxies(serve, database, target):
    if target == "run":
        return serve("run", development_env(database.url))
    # make up with nothing in front: plain http here, and no proxy to say it was https
    return serve("up", production_env(database.url, SECURE_SSL_REDIRECT="0"))


def fail_logins(server, username, count=10, headers_for=lambda i: {}):
    return [server.login(username, "wrong-password", headers=headers_for(i))[0] for i in range(count)]


@pytest.mark.parametrize("target", ["run", "up"])
def test_rotating_forwarded_for_does_not_escape_the_lockout(serve, portal_database, clear_lockouts, target):
    server = server_without_proxies(serve, portal_database, target)
    statuses = fail_logins(server, "acme.buyer", headers_for=lambda i: {"X-Forwarded-For": f"198.51.100.{i}"})
    assert statuses == [400] * 9 + [429]
    status, body = server.login("acme.buyer", headers={"X-Forwarded-For": "203.0.113.77"})
    assert status == 429 and body["error"]["code"] == "locked_out"


@pytest.mark.parametrize("target", ["run", "up"])
def test_a_forwarded_header_added_after_the_lockout_does_not_unlock(serve, portal_database, clear_lockouts, target):
    server = server_without_proxies(serve, portal_database, target)
    assert fail_logins(server, "acme.planner") == [400] * 9 + [429]
    for forged in (
        {"X-Forwarded-For": "203.0.113.9"},
        {"X-Forwarded-For": "203.0.113.9, 127.0.0.1"},
        {"X-Real-IP": "203.0.113.9"},
        {"Forwarded": "for=203.0.113.9;proto=https"},
    ):
        status, body = server.login("acme.planner", headers=forged)
        assert status == 429, (forged, body)
    # Another user from the same address is not locked.
    assert server.login("acme.warehouse")[0] == 200


def next_link(server, token, headers):
    """The `next` link of a room's first page of messages: built from the request's scheme and host."""
    status, _, body = server.request("GET", "/api/v1/t/acme/rooms/", token=token, headers=headers)
    assert status == 200, body
    room = json.loads(body)[0]["id"]
    server.request("POST", f"/api/v1/t/acme/rooms/{room}/messages/", token=token, headers=headers,
                   body={"body": "link probe", "client_id": secrets.token_hex(8)})
    status, _, body = server.request(
        "GET", f"/api/v1/t/acme/rooms/{room}/messages/?after_seq=0&limit=1", token=token, headers=headers
    )
    assert status == 200, body
    return json.loads(body)["next"]


def test_without_declared_proxies_the_scheme_and_host_are_the_connections_own(serve, portal_database, clear_lockouts):
    server = serve("run", development_env(portal_database.url))
    forged = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example", "X-Forwarded-Port": "443"}
    link = next_link(server, server.token("acme.buyer"), forged)
    assert link.startswith(f"http://127.0.0.1:{server.port}/api/v1/t/acme/rooms/"), link

    # make up behind nothing: a forged X-Forwarded-Proto does not pass the HTTPS redirect.
    production = serve("up", production_env(portal_database.url))
    status, headers, _ = production.request("GET", "/api/v1/me/", headers={"X-Forwarded-Proto": "https"})
    assert status == 301 and headers["location"] == f"https://127.0.0.1:{production.port}/api/v1/me/"


def test_behind_one_declared_proxy_its_last_hop_and_scheme_are_used(serve, portal_database, clear_lockouts):
    """TRUSTED_PROXY_COUNT=1 (docs/operations.md): the proxy appends the address it received from
    to X-Forwarded-For, and sets X-Forwarded-Proto; the portal reads the last entry."""
    server = serve("up", production_env(portal_database.url, TRUSTED_PROXY_COUNT="1"))
    status, headers, _ = server.request("GET", "/api/v1/me/")
    assert status == 301 and headers["location"].startswith("https://")  # the proxy did not say https

    def via_proxy(client_sent):
        return {"X-Forwarded-Proto": "https", "X-Forwarded-For": client_sent}

    statuses = fail_logins(server, "acme.buyer", headers_for=lambda i: via_proxy(f"192.0.2.{i}, 198.51.100.5"))
    assert statuses == [400] * 9 + [429]
    # The same client behind the proxy, whatever it prepends: locked.
    assert server.login("acme.buyer", headers=via_proxy("1.2.3.4, 198.51.100.5"))[0] == 429
    # Another client behind the same proxy, and the proxy's own address: not locked.
    assert server.login("acme.buyer", headers=via_proxy("198.51.100.6"))[0] == 200
    status, body = server.login("acme.buyer", headers={"X-Forwarded-Proto": "https"})
    assert status == 200, body

    link = next_link(server, server.token_via(via_proxy("198.51.100.6")), via_proxy("198.51.100.6"))
    assert link.startswith(f"https://127.0.0.1:{server.port}/"), link


# --- 6. What a visitor of `make run` sees when something is wrong ---------------------------------

def session_login(server, username):
    """Cookies of a browser session logged in through the login form."""
    status, headers, body = server.request("GET", "/accounts/login/", headers={"Accept": "text/html"})
    csrf_cookie = re.search(r"csrftoken=([^;]+)", headers["set-cookie"]).group(1)
    form_token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1).decode()
    connection = http.client.HTTPConnection(server.host, server.port, timeout=60)
    try:
        form = f"csrfmiddlewaretoken={form_token}&username={username}&password={DEMO_PASSWORD}"
        connection.request("POST", "/accounts/login/", body=form, headers={
            "Content-Type": "application/x-www-form-urlencoded", "Cookie": f"csrftoken={csrf_cookie}",
        })
        response = connection.getresponse()
        response.read()
        assert response.status == 302, response.status
        session = re.search(r"sessionid=([^;]+)", response.getheader("Set-Cookie")).group(1)
    finally:
        connection.close()
    return f"csrftoken={csrf_cookie}; sessionid={session}"


@contextmanager
def table_missing(database_url, table):
    """The table renamed away for a moment: every view that reads it raises."""
    with connect(database_url) as conn:
        conn.execute("SET lock_timeout = '10s'")
        conn.execute(f'ALTER TABLE "{table}" RENAME TO "{table}_away"')
        try:
            yield
        finally:
            conn.execute(f'ALTER TABLE "{table}_away" RENAME TO "{table}"')


def test_make_run_shows_the_portals_error_pages_not_djangos(serve, portal_database, clear_lockouts):
    server = serve("run", development_env(portal_database.url))
    html = {"Accept": "text/html"}
    for language, title in (("en", "Page not found"), ("zh-CN,zh;q=0.9", "页面不存在")):
        status, headers, body = server.request("GET", "/no-such-page/", headers={**html, "Accept-Language": language})
        page = body.decode()
        assert status == 404 and headers["content-type"].startswith("text/html")
        assert title in page and 'data-status="404"' in page and "Using the URLconf" not in page
        # the portal's own look: its stylesheet, served without DEBUG
        stylesheet = re.search(r'href="(/static/portal/portal\.css)"', page).group(1)
        assert server.request("GET", stylesheet)[0] == 200

    status, headers, body = server.request("GET", "/api/v1/no-such-thing/", headers=html)
    assert status == 404 and headers["content-type"] == "application/json"
    error = json.loads(body)["error"]
    assert set(error) == {"code", "message", "fields"} and error["code"] == "not_found"

    cookies = session_login(server, "acme.buyer")
    token = server.token("acme.buyer")
    with table_missing(portal_database.url, "tenancy_invitation"):
        for language, title in (("en", "Something went wrong on our side"), ("zh-CN", "服务器出错了")):
            status, headers, body = server.request(
                "GET", "/invitations/", headers={**html, "Cookie": cookies, "Accept-Language": language}
            )
            page = body.decode()
            assert status == 500 and title in page and 'data-status="500"' in page, page[:500]
            assert "Traceback" not in page and "tenancy_invitation" not in page and "ProgrammingError" not in page
        status, headers, body = server.request("GET", "/api/v1/invitations/", token=token)
        assert status == 500 and headers["content-type"] == "application/json"
        assert json.loads(body)["error"]["code"] == "server_error" and b"tenancy_invitation" not in body
    assert "ProgrammingError" in server.log()  # logged for the operator, not shown
