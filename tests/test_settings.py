"""Configuration from the environment, and the production checks."""

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parent.parent


def manage(*args, env):
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "DJANGO_SETTINGS_MODULE", "PORTAL_ENV", "ALLOWED_HOSTS", "SECURE_SSL_REDIRECT"}}
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
    assert default["ENGINE"] == "django.db.backends.postgresql"
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
    "print(d['CONN_MAX_AGE'], d.get('OPTIONS', {}).get('pool'))"
)


@pytest.mark.slow
def test_the_connection_pool_follows_the_environment():
    postgres = {**PRODUCTION, "DATABASE_URL": "postgres://portal@db.invalid:5432/portal"}

    def probe(**extra):
        result = manage("shell", "--no-imports", "-c", POOL_PROBE, env={**postgres, **extra})
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    assert probe() == "0 {'min_size': 2, 'max_size': 10, 'timeout': 10}"
    assert probe(DB_POOL_MIN_SIZE="1", DB_POOL_MAX_SIZE="4", DB_POOL_TIMEOUT="3") == (
        "0 {'min_size': 1, 'max_size': 4, 'timeout': 3}"
    )
    assert probe(DB_POOL="0", DB_CONN_MAX_AGE="60") == "60 None"

    clash = manage("check", env={**postgres, "DB_CONN_MAX_AGE": "60"})
    assert clash.returncode != 0 and "DB_CONN_MAX_AGE needs DB_POOL=0" in clash.stderr
    inverted = manage("check", env={**postgres, "DB_POOL_MIN_SIZE": "5", "DB_POOL_MAX_SIZE": "2"})
    assert inverted.returncode != 0 and "DB_POOL_MIN_SIZE" in inverted.stderr
