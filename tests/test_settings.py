"""Configuration from the environment, and the production checks."""

import os
import subprocess
import sys
from pathlib import Path

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
    "DATABASE_URL": "sqlite:////tmp/scm-portal-deploy-check.sqlite3",
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


def test_database_and_layers_follow_the_environment(settings):
    from django.conf import settings as live

    url = os.environ.get("DATABASE_URL", "")
    engine = live.DATABASES["default"]["ENGINE"]
    assert ("postgresql" in engine) == url.startswith("postgres")
