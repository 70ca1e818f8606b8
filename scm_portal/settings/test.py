"""Test settings: the base settings with fast hashing; DATABASE_URL / REDIS_URL still apply."""

import os

os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECRET_KEY", "test-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")

from scm_portal.env import env_bool  # noqa: E402

from .base import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Off unless asked for (a browser test's own server runs the retention sweep in process).
EMBEDDED_SCHEDULER = env_bool("EMBEDDED_SCHEDULER", False)
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SECURE_HSTS_SECONDS = 0
CELERY_TASK_ALWAYS_EAGER = True
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Parallel test runs (pytest-xdist) share one Redis: each worker keeps its cache keys (the sockets'
# access counters, keyed by ids that every worker's test database hands out alike) under a prefix
# of its own. Servers a worker starts inherit PYTEST_XDIST_WORKER and so share its prefix.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if XDIST_WORKER and CACHES["default"]["BACKEND"].endswith("RedisCache"):  # noqa: F405
    CACHES["default"]["KEY_PREFIX"] = f"test-{XDIST_WORKER}"  # noqa: F405
