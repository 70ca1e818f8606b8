"""Configuration from the environment, and the production checks."""

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parent.parent


NOT_INHERITED = {
    "DEBUG", "SECRET_KEY", "DJANGO_SETTINGS_MODULE", "PORTAL_ENV", "ALLOWED_HOSTS", "SECURE_SSL_REDIRECT",
    "TRUSTED_PROXY_COUNT",
}


def manage(*args, env):
    clean = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    clean.update(env)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120)


PRODUCTION = {
    "PORTAL_ENV": "production",
    "DEBUG": "0",
    "SECRET_KEY": "k3J9-long-random-production-secret-Zq8vN2xP5tR7wY1uI4oA6sD0fG",
    "ALLOWED_HOSTS": "portal.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://portal.example.com",
    "DATABASE_URL": "postgres://portal@db.invalid:5432/portal",  # never connected to by these checks
}


@pytest.mark.slow
def test_check_deploy_is_clean_under_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_refuses_to_start_without_secret_key_when_debug_is_off():
    env = dict(PRODUCTION)
    del env["SECRET_KEY"]
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY is required" in result.stderr


DEVELOPMENT = {"DATABASE_URL": PRODUCTION["DATABASE_URL"]}  # PORTAL_ENV, DEBUG and SECRET_KEY unset, as make run


def settings_of(*names, env):
    """The values of settings `names` in a fresh process with `env`, one repr per line."""
    code = "from django.conf import settings; " + "; ".join(f"print(repr(settings.{name}))" for name in names)
    result = manage("shell", "--no-imports", "-c", code, env=env)
    assert result.returncode == 0, result.stderr
    return [eval(line) for line in result.stdout.strip().splitlines()]  # reprs of str, bool, int, list, tuple, None


@pytest.mark.slow
def test_development_runs_without_debug_or_secret_key_on_the_checkouts_own_key():
    """make run sets neither: Django's debug pages stay off, the key is the checkout's (made once,
    git-ignored), and the site is plain http on localhost."""
    debug, key, hosts, redirect, cookie_secure = settings_of(
        "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", env=DEVELOPMENT
    )
    assert debug is False
    assert key == (ROOT / ".dev_secret_key").read_text().strip() and len(key) >= 50
    assert settings_of("SECRET_KEY", env=DEVELOPMENT) == [key]  # the same key the next time
    assert {"127.0.0.1", "localhost"} <= set(hosts)
    assert redirect is False and cookie_secure is False
    ignored = subprocess.run(["git", "check-ignore", "-q", ".dev_secret_key"], cwd=ROOT)
    assert ignored.returncode == 0, ".dev_secret_key must be git-ignored"


def test_the_checkout_key_is_made_once_private_and_shared(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from scm_portal.settings.checkout_key import checkout_secret_key

    path = tmp_path / "key"
    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda _: checkout_secret_key(path), range(16)))
    assert len(keys) == 1 and len(keys.pop()) >= 50
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["key"]


@pytest.mark.slow
def test_production_enforces_https_and_development_does_not_by_default():
    redirect, hsts, session_secure, csrf_secure, hosts = settings_of(
        "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "ALLOWED_HOSTS",
        env={**PRODUCTION, "ALLOWED_HOSTS": ""},
    )
    assert redirect is True and hsts == 31536000 and session_secure is True and csrf_secure is True
    assert hosts == []  # production names its hosts


@pytest.mark.slow
def test_an_unknown_portal_env_fails_loudly():
    result = manage("check", env={**PRODUCTION, "PORTAL_ENV": "prod"})
    assert result.returncode != 0
    assert "PORTAL_ENV must be development or production" in result.stderr


@pytest.mark.slow
def test_forwarded_proto_is_believed_only_from_declared_proxies():
    assert settings_of("SECURE_PROXY_SSL_HEADER", env=PRODUCTION) == [None]
    assert settings_of("SECURE_PROXY_SSL_HEADER", env={**PRODUCTION, "TRUSTED_PROXY_COUNT": "1"}) == [
        ("HTTP_X_FORWARDED_PROTO", "https")
    ]
    gone = manage("check", env={**PRODUCTION, "BEHIND_TLS_PROXY": "1"})
    assert gone.returncode != 0 and "BEHIND_TLS_PROXY is gone" in gone.stderr
    negative = manage("check", env={**PRODUCTION, "TRUSTED_PROXY_COUNT": "-1"})
    assert negative.returncode != 0 and "TRUSTED_PROXY_COUNT must be 0 or more" in negative.stderr


def test_make_run_leaves_debug_off_and_both_servers_ignore_forwarded_headers():
    """uvicorn's own --proxy-headers would take the client's address and scheme from
    X-Forwarded-* on connections from 127.0.0.1; the portal reads them itself (TRUSTED_PROXY_COUNT)."""
    for target in ("run", "up"):
        dry = subprocess.run(
            ["make", "-n", "--no-print-directory", target], cwd=ROOT, capture_output=True, text=True, timeout=60
        )
        assert dry.returncode == 0, dry.stderr
        serve = next(line for line in dry.stdout.replace("\\\n", " ").splitlines() if "bin/uvicorn " in line)
        assert "--no-proxy-headers" in serve and "--proxy-headers" not in serve.replace("--no-proxy-headers", "")
        assert "forwarded-allow-ips" not in serve
        if target == "run":
            assert "export DEBUG" not in serve


@pytest.mark.slow
def test_production_refuses_debug():
    result = manage("check", env={**PRODUCTION, "DEBUG": "1"})
    assert result.returncode != 0
    assert "DEBUG must be off" in result.stderr


@pytest.mark.slow
def test_production_refuses_to_start_without_database_url():
    """The embedded PostgreSQL is a development default: production names its database."""
    result = manage("check", env={**PRODUCTION, "DATABASE_URL": ""})
    assert result.returncode != 0
    assert "DATABASE_URL is required when PORTAL_ENV=production" in result.stderr


@pytest.mark.slow
def test_only_postgresql_is_accepted():
    result = manage("check", env={**PRODUCTION, "DATABASE_URL": "sqlite:///portal.sqlite3"})
    assert result.returncode != 0
    assert "DATABASE_URL must name a PostgreSQL database" in result.stderr


@pytest.mark.slow
def test_a_malformed_boolean_fails_loudly():
    result = manage("check", env={**PRODUCTION, "DEBUG": "perhaps"})
    assert result.returncode != 0
    assert "DEBUG must be a boolean" in result.stderr


def test_env_helpers(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    from scm_portal.env import env_bool, env_int, env_list, env_str

    monkeypatch.setenv("X_LIST", "a, b,,c")
    monkeypatch.setenv("X_INT", "12")
    monkeypatch.setenv("X_BAD_INT", "twelve")
    monkeypatch.setenv("X_BOOL", "yes")
    assert env_list("X_LIST") == ["a", "b", "c"]
    assert env_int("X_INT", 0) == 12
    assert env_bool("X_BOOL") is True
    assert env_str("X_MISSING", "d") == "d"
    with pytest.raises(ImproperlyConfigured):
        env_int("X_BAD_INT", 0)
    with pytest.raises(ImproperlyConfigured):
        env_str("X_MISSING", required=True)


def test_the_database_follows_the_environment():
    """DATABASE_URL when set; else the embedded server's portal database, through its socket."""
    from django.conf import settings as live

    from scm_portal.db import embedded

    default = live.DATABASES["default"]
    assert default["ENGINE"] == "scm_portal.db.postgresql"  # Django's PostgreSQL backend, checking pooled connections
    url = os.environ.get("DATABASE_URL", "")
    if url:
        assert live.DATABASE_URL == url
    else:
        assert live.DATABASE_URL == embedded.database_url(default["HOST"], "portal")  # NAME is the test database's now
        with psycopg.connect(embedded.database_url(default["HOST"], "postgres")) as conn:
            assert Path(conn.execute("SHOW data_directory").fetchone()[0]) == embedded.data_dir()


def test_the_live_database_settings_pool_unless_turned_off():
    from django.conf import settings as live

    default = live.DATABASES["default"]
    pool = default.get("OPTIONS", {}).get("pool")
    pool_off = os.environ.get("DB_POOL", "1").strip().lower() in {"0", "false", "no", "off"}
    if not pool_off:
        assert pool and pool["max_size"] >= pool["min_size"] >= 0
        assert default["CONN_MAX_AGE"] == 0
    else:
        assert pool is None


POOL_PROBE = (
    "from django.conf import settings; d = settings.DATABASES['default']; "
    "print(d['CONN_MAX_AGE'], d.get('OPTIONS', {}).get('pool'), d['CONN_HEALTH_CHECKS'])"
)


@pytest.mark.slow
def test_the_connection_pool_follows_the_environment():
    postgres = {**PRODUCTION, "DATABASE_URL": "postgres://portal@db.invalid:5432/portal"}

    def probe(**extra):
        result = manage("shell", "--no-imports", "-c", POOL_PROBE, env={**postgres, **extra})
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    # Connections are checked before use: pooled ones by the portal's backend on checkout (Django's
    # CONN_HEALTH_CHECKS would add psycopg_pool's slower check), persistent ones by Django.
    assert probe() == "0 {'min_size': 2, 'max_size': 10, 'timeout': 10} False"
    assert probe(DB_POOL_MIN_SIZE="1", DB_POOL_MAX_SIZE="4", DB_POOL_TIMEOUT="3") == (
        "0 {'min_size': 1, 'max_size': 4, 'timeout': 3} False"
    )
    assert probe(DB_POOL="0", DB_CONN_MAX_AGE="60") == "60 None True"

    clash = manage("check", env={**postgres, "DB_CONN_MAX_AGE": "60"})
    assert clash.returncode != 0 and "DB_CONN_MAX_AGE needs DB_POOL=0" in clash.stderr
    inverted = manage("check", env={**postgres, "DB_POOL_MIN_SIZE": "5", "DB_POOL_MAX_SIZE": "2"})
    assert inverted.returncode != 0 and "DB_POOL_MIN_SIZE" in inverted.stderr
