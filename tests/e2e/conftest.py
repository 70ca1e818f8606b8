"""Browser tests: a real portal server in a subprocess, driven by Playwright on the system Chromium.

The server is `uvicorn scm_portal.asgi:application` on a free port, against a throwaway
database of its own (never pytest-django's test database), migrated and loaded with
`manage.py seed_demo`: a database `e2e_<random>` created on the PostgreSQL server the tests
use (DATABASE_URL's, or else the embedded one, which this run keeps up) and dropped at the end.

The server uses the test settings (DEBUG off, so error pages are the portal's own, and
cookies without the Secure flag, so they travel over plain http://127.0.0.1).

Chromium is the system one (`apt-get install chromium`; `.ci/run` installs it), or the
executable named by E2E_CHROMIUM. A missing browser fails the tests; it never skips them.

Set E2E_HEADED=1 to watch the browser, E2E_SLOWMO=<ms> to slow it down. Screenshots of
failing tests land in test-results/e2e/.
"""

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

REPO = Path(__file__).resolve().parents[2]
RESULTS_DIR = REPO / "test-results" / "e2e"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SERVER_START_TIMEOUT = 60  # seconds
DEFAULT_TIMEOUT_MS = 15_000
DEMO_PASSWORD = "demo12345"


# --- The throwaway database ------------------------------------------------------------------

def _with_database(url, name):
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def _connection(url):
    """An autocommit psycopg connection to the database `url` names."""
    import psycopg

    parts = urlsplit(url)
    return psycopg.connect(urlunsplit(("postgresql", parts.netloc, parts.path, parts.query, "")), autocommit=True)


def _admin_connection(url):
    """An autocommit connection to the server's `postgres` database (CREATE/DROP DATABASE)."""
    return _connection(_with_database(url, "postgres"))


class ThrowawayDatabase:
    """A database `e2e_<random>` on the server of this run's settings (DATABASE_URL, or the
    embedded server the settings started: the URL names its socket directory)."""

    def __init__(self):
        from django.conf import settings

        self.name = f"e2e_{secrets.token_hex(6)}"
        self.admin_url = settings.DATABASE_URL
        self.url = _with_database(settings.DATABASE_URL, self.name)

    def create(self):
        with _admin_connection(self.admin_url) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')

    def drop(self):
        with _admin_connection(self.admin_url) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def connect(self):
        """An autocommit connection to this database (use it as a context manager)."""
        return _connection(self.url)


# --- The server process ---------------------------------------------------------------------

def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_env(database_url):
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "scm_portal.settings.test",
            "DATABASE_URL": database_url,
            "DEBUG": "0",
            "SECRET_KEY": env.get("SECRET_KEY") or "e2e-only-secret-key-" + secrets.token_urlsafe(32),
            "SECURE_SSL_REDIRECT": "0",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "EMBEDDED_SCHEDULER": "0",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _run_manage(env, *args, log):
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    log.write(f"$ manage.py {' '.join(args)}  ({time.monotonic() - started:.1f}s, exit {result.returncode})\n")
    log.write(result.stdout + result.stderr)
    log.flush()
    if result.returncode != 0:
        pytest.fail(
            f"manage.py {' '.join(args)} failed for the e2e server (exit {result.returncode}):\n"
            f"{result.stdout}\n{result.stderr}",
            pytrace=False,
        )
    return result.stdout


def _wait_until_serving(url, process, log_path):
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    last_error = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"the e2e server exited with {process.returncode} before serving:\n{log_path.read_text()}",
                pytrace=False,
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            last_error = exc
        time.sleep(0.2)
    pytest.fail(
        f"the e2e server did not answer {url} within {SERVER_START_TIMEOUT}s ({last_error}):\n{log_path.read_text()}",
        pytrace=False,
    )


def _stop(process):
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture(scope="package")
def portal_database():
    """The portal server's throwaway database (`.url`, `.name`): for a test that changes a row
    behind the portal's back, as an intruder with database access would."""
    database = ThrowawayDatabase()
    database.create()
    try:
        yield database
    finally:
        database.drop()


@contextmanager
def serve_portal(database=None, **extra_env):
    """A freshly migrated and seeded portal server on `database` (a ThrowawayDatabase the caller
    created and drops; None: one of its own, dropped at the end); `extra_env` adds to or overrides
    the server's environment (a test that needs the embedded scheduler, say). Yields (base_url,
    manage): the server's http://127.0.0.1:PORT, and `manage(*args)`, which runs manage.py against
    the server's database and answers its stdout."""
    tmp_dir = tempfile.mkdtemp(prefix="scm-e2e-")
    own = database is None
    if own:
        database = ThrowawayDatabase()
        database.create()
    env = {**_server_env(database.url), **extra_env}
    log_path = Path(tmp_dir) / "server.log"
    process = None
    try:
        with open(log_path, "w") as log:
            _run_manage(env, "migrate", "--noinput", "-v0", log=log)
            _run_manage(env, "seed_demo", "--password", DEMO_PASSWORD, log=log)
            port = _free_port()
            uvicorn = Path(sys.executable).with_name("uvicorn")
            command = [str(uvicorn)] if uvicorn.exists() else [sys.executable, "-m", "uvicorn"]
            process = subprocess.Popen(
                [*command, "scm_portal.asgi:application", "--host", "127.0.0.1", "--port", str(port),
                 "--lifespan", "on", "--ws", "websockets-sansio", "--ws-per-message-deflate", "false", "--no-access-log"],
                cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
            )
            base_url = f"http://127.0.0.1:{port}"
            _wait_until_serving(f"{base_url}/accounts/login/", process, log_path)

            def manage(*args):
                return _run_manage(env, *args, log=log)

            yield base_url, manage
    finally:
        if process is not None:
            _stop(process)
        if own:
            database.drop()
        shutil.rmtree(tmp_dir, ignore_errors=True)


@pytest.fixture(scope="package")
def portal_server(portal_database):
    """Base URL (http://127.0.0.1:PORT) of a freshly migrated and seeded portal server."""
    with serve_portal(portal_database) as (base_url, _manage):
        yield base_url


# --- The browser ----------------------------------------------------------------------------

def _chromium_executable():
    configured = os.environ.get("E2E_CHROMIUM")
    candidates = [configured] if configured else ["/usr/bin/chromium", shutil.which("chromium") or ""]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail(
        f"Chromium not found (looked for {', '.join(c for c in candidates if c) or 'chromium on PATH'}). "
        "The browser tests need the system Chromium: `apt-get install chromium` (.ci/run installs it), "
        "or set E2E_CHROMIUM to a Chromium executable.",
        pytrace=False,
    )


@pytest.fixture(scope="package")
def browser():
    executable = _chromium_executable()
    # Playwright's sync API keeps an event loop marked as running on this thread while it is
    # alive, which Django's async-safety check would mistake for async code. Allow it only while
    # the browser is open (these tests never touch the ORM in-process).
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        try:
            instance = playwright.chromium.launch(
                executable_path=executable,
                args=CHROMIUM_ARGS,
                headless=os.environ.get("E2E_HEADED", "") not in {"1", "true", "yes"},
                slow_mo=float(os.environ.get("E2E_SLOWMO", "0") or 0),
            )
        except Exception as exc:
            pytest.fail(f"Chromium at {executable} did not start: {exc}", pytrace=False)
        yield instance
        instance.close()
    finally:
        playwright.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def new_context(browser, portal_server, request):
    """Opens a fresh browser context (own cookies) on the portal; screenshots its pages on failure.

    The default context asks for Chinese (Accept-Language zh-CN), as the portal's users do.
    """
    contexts = []

    def open_context(**options):
        options.setdefault("locale", "zh-CN")
        options.setdefault("viewport", {"width": 1280, "height": 900})
        context = browser.new_context(base_url=portal_server, **options)
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        contexts.append(context)
        return context

    yield open_context

    failed = getattr(request.node, "report_call", None) is not None and request.node.report_call.failed
    for number, context in enumerate(contexts):
        if failed:
            RESULTS_DIR.mkdir(parents=True, exist_ok=True)
            for index, page in enumerate(context.pages):
                try:
                    page.screenshot(path=RESULTS_DIR / f"{request.node.name}-{number}-{index}.png", full_page=True)
                except Exception:  # the page may be gone; the assertion message is what matters
                    pass
        context.close()


@pytest.fixture
def page(new_context):
    return new_context().new_page()


@pytest.fixture
def login(portal_server):
    """Logs a page in through the login form; returns the response of the page it lands on."""

    def do_login(page, username, password=DEMO_PASSWORD):
        page.goto("/accounts/login/")
        page.locator("input[name=username]").fill(username)
        page.locator("input[name=password]").fill(password)
        with page.expect_navigation():
            page.locator("[data-testid=login-submit]").click()
        page.wait_for_load_state()
        assert not page.url.startswith(f"{portal_server}/accounts/login/"), (
            f"login as {username} did not leave the login page: {page.url}"
        )

    return do_login
