"""Settings for Tayori, read from the environment with safe development defaults.

With no environment at all the project runs on SQLite, a filesystem Celery broker and
the bundled STARTTLS SMTP sink (``make run``). ``DATABASE_URL`` and ``REDIS_URL`` switch
to PostgreSQL and Redis. With ``DEBUG=0`` the process refuses to start on a missing or
development ``SECRET_KEY`` / ``FIELD_ENCRYPTION_KEY``.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from config.env import env_bool, env_int, env_list, env_secret, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
# Everything the running app writes (SQLite file, broker spool, cache, TLS material).
VAR_DIR = Path(env_str("TAYORI_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", True)

_DEV_SECRET_KEY = "development-only-secret-key-never-use-in-production-0123456789"  # noqa: S105 - development default; refused when DEBUG=0
# A Fernet key (urlsafe base64 of 32 bytes) for development only.
_DEV_FIELD_KEY = "ZGV2ZWxvcG1lbnQtb25seS1maWVsZC1rZXktMzJieXQ="

SECRET_KEY = env_secret("SECRET_KEY", _DEV_SECRET_KEY)
# Comma-separated Fernet keys, newest first: encrypting uses the first, decrypting tries
# all of them, which is how a key is rotated.
FIELD_ENCRYPTION_KEYS = [
    key.strip()
    for key in env_secret("FIELD_ENCRYPTION_KEY", _DEV_FIELD_KEY).split(",")
    if key.strip()
] or [_DEV_FIELD_KEY]
if not DEBUG:
    if SECRET_KEY in ("", _DEV_SECRET_KEY):
        raise ImproperlyConfigured("DEBUG=0 requires SECRET_KEY (or SECRET_KEY_FILE) to be set.")
    if FIELD_ENCRYPTION_KEYS == [_DEV_FIELD_KEY] and not env_bool("ALLOW_DEV_FIELD_KEY"):
        raise ImproperlyConfigured("DEBUG=0 requires FIELD_ENCRYPTION_KEY to be set.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "guardian",
    "axes",
    "auditlog",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served by the app (no CDN)
    "accounts",
    "audit",
    "contacts",
    "segments",
    "campaigns",
    "delivery",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "accounts.middleware.ActivityMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "audit.middleware.AuditlogMiddleware",
    # AxesMiddleware must be last: it turns a lockout into the lockout response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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
                "accounts.context_processors.navigation",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------
DATABASE_URL = env_secret("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "db.sqlite3",
            "OPTIONS": {
                # web, worker, beat and the sink share one file: WAL plus IMMEDIATE
                # transactions plus a lock timeout keep them from failing on each other.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# PostgreSQL row-level security (accounts.tenancy, docs/security.md): organisation pages
# and tasks run as this role, confined to one organisation. Empty switches the runtime
# scope off (the policies stay in the database).
DATABASE_APP_ROLE = env_str("DATABASE_APP_ROLE", "tayori_app")

# --- Redis, cache, Celery ------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

CELERY_BROKER_URL = REDIS_URL or "filesystem://"
# kombu's Redis transport with one client per channel (config/broker.py says why).
CELERY_BROKER_TRANSPORT = "config.broker:Transport" if REDIS_URL else None
BROKER_SPOOL_DIR = VAR_DIR / "broker"
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {}
    if REDIS_URL
    else {
        # The serverless broker for `make run`: a spool directory every process shares.
        "data_folder_in": str(BROKER_SPOOL_DIR / "queue"),
        "data_folder_out": str(BROKER_SPOOL_DIR / "queue"),
        "control_folder": str(BROKER_SPOOL_DIR / "control"),
        "processed_folder": str(BROKER_SPOOL_DIR / "processed"),
        "store_processed": False,
    }
)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Keep database connections across tasks; config/celery.py closes old or broken ones the
# way Django does after a request (see there).
CELERY_DB_REUSE_MAX = 10**9
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Schedules live in the database; beat only wakes the jobs that read them.
CELERY_BEAT_SCHEDULE = {
    "dispatch-due-campaigns": {
        "task": "delivery.tasks.dispatch_due_campaigns",
        "schedule": env_int("DISPATCH_INTERVAL_SECONDS", 5),
    },
    # Also how quickly a resumed campaign picks up again: keep it short.
    "delivery-maintenance": {"task": "delivery.tasks.maintain", "schedule": 5},
    "check-sending-domains": {"task": "delivery.tasks.check_sending_domains", "schedule": 3600},
    # Safety net for alert evaluations whose per-entry task was lost (audit.alerts).
    "sweep-alerts": {"task": "audit.tasks.sweep_alerts", "schedule": 60},
}
# Seconds without a heartbeat after which /healthz reports the worker or beat down.
HEALTH_STALE_AFTER = env_int("HEALTH_STALE_AFTER", 45)

# --- Authentication ---------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "accounts:home"
LOGOUT_REDIRECT_URL = "accounts:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_HASHERS = env_list("PASSWORD_HASHERS", []) or [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
# Invitations are signed links that expire and work once.
INVITATION_MAX_AGE = env_int("INVITATION_MAX_AGE", 7 * 24 * 3600)
OTP_TOTP_ISSUER = "Tayori"

# django-guardian: no anonymous user row (our users log in by e-mail).
ANONYMOUS_USER_NAME = None
GUARDIAN_MONKEY_PATCH_USER = False

# django-axes: lock an account (by e-mail) after repeated failures. Behind a reverse
# proxy set TRUSTED_PROXY_COUNT so the client address is read from X-Forwarded-For
# (see accounts.net: only the entries our own proxies wrote are trusted).
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = env_int("AXES_COOLOFF_HOURS", 1)
AXES_LOCKOUT_PARAMETERS = ["username"]
# The login form authenticates with ``username=<e-mail>``; axes defaults to ``email`` (the
# USERNAME_FIELD), and wherever it reads or builds credentials under that key (with no
# AXES_USERNAME_CALLABLE, or in ``axes_reset(username=...)``) it would find no account.
AXES_USERNAME_FORM_FIELD = "username"
# axes.W006 asks for the client address in the lockout key. We lock the *account*:
# a whole office behind one NAT address (common in Japan) must not be locked out by one
# person's typos, and rotating addresses does not help against a per-account lock.
# Repeated failures from one address are an alert (security operations), not a lock.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
AXES_CLIENT_IP_CALLABLE = "accounts.net.client_ip"
# Count failures per account whatever the case of the address typed.
AXES_USERNAME_CALLABLE = "accounts.forms.lockout_username"

SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 12 * 3600)
# Sessions live in the database so that one can be signed out from another browser
# (accounts.sessions); a cache-only engine could not be listed or revoked reliably.
SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

# --- Security headers ---------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
if env_bool("BEHIND_TLS_PROXY", not DEBUG):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# No inline scripts or styles anywhere: every asset is a file under static/.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- i18n -----------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("ja", _("Japanese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "UTC"
USE_TZ = True

# --- Static files ---------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
MEDIA_ROOT = VAR_DIR / "media"
# Development serves static files straight from static/ (no collectstatic needed);
# production serves the collected, hashed files (the Dockerfile runs collectstatic).
WHITENOISE_AUTOREFRESH = DEBUG
WHITENOISE_USE_FINDERS = DEBUG

# --- E-mail sent by the platform itself (invitations, alerts) -------------------------
# Always STARTTLS with a verified certificate (config.mail.VerifiedStartTLSBackend).
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "config.mail.VerifiedStartTLSBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "127.0.0.1")
EMAIL_PORT = env_int("EMAIL_PORT", env_int("SMTP_SINK_PORT", 8025))
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = True
EMAIL_TIMEOUT = 20
# CA bundle used to verify the relay; defaults to the bundled sink's development CA.
EMAIL_SSL_CAFILE = env_str("EMAIL_SSL_CAFILE", str(VAR_DIR / "tls" / "ca.pem"))
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Tayori <no-reply@tayori.localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# The bundled development SMTP sink (aiosmtpd, STARTTLS required).
SMTP_SINK_HOST = env_str("SMTP_SINK_HOST", "127.0.0.1")
SMTP_SINK_PORT = env_int("SMTP_SINK_PORT", 8025)
TLS_DIR = VAR_DIR / "tls"

# --- REST framework -------------------------------------------------------------------
# The API (docs/api.md): bearer tokens only, JSON only (no browsable API: it would need
# sessions and inline scripts), one error shape, rate limits per token.
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.api.authentication.TokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "accounts.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
# Requests per token and window ("600/min"): GET requests, and everything else.
API_RATE_LIMITS = {
    "read": env_str("API_RATE_READ", "600/min"),
    "write": env_str("API_RATE_WRITE", "120/min"),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Tayori API",
    "VERSION": "1.0.0",
    "DESCRIPTION": (
        "Sync contacts from your own database, manage segments and campaigns. "
        "Authenticate with `Authorization: Bearer tyr_<prefix>_<secret>` (a token made on "
        "your organisation's API tokens page). See docs/api.md."
    ),
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "ContactStatusEnum": "contacts.enums.ContactStatus",
        "DomainStatusEnum": "delivery.enums.DomainStatus",
    },
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_AUTHENTICATION": [],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "accounts.api.schema.postprocess",
    ],
    # The docs page is served by the app itself (drf-spectacular-sidecar): no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# django-auditlog: we register models ourselves (audit.apps), and keep IPs.
AUDITLOG_INCLUDE_ALL_MODELS = False
AUDITLOG_DISABLE_REMOTE_ADDR = False

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

# Key of the audit log's hash chain (HMAC). Set it explicitly in production and never
# change it: entries written under another key no longer verify.
AUDIT_CHAIN_KEY = env_secret("AUDIT_CHAIN_KEY", SECRET_KEY)
# True where the bundled sink runs beside the app (`make run`): /healthz then checks it.
SMTP_SINK_ENABLED = env_bool("SMTP_SINK_ENABLED", False)

# DNS for sending-domain checks: empty = the system resolver; else "host" or "host:port".
DNS_NAMESERVERS = env_list("DNS_NAMESERVERS", [])
DNS_TIMEOUT = float(env_int("DNS_TIMEOUT_SECONDS", 5))
# What every sending domain's SPF record must include (our relays' addresses).
SPF_INCLUDE = env_str("SPF_INCLUDE", "_spf.tayori.example")
# Bounces (VERP) and mailto unsubscribes come back to addresses at this domain.
BOUNCE_DOMAIN = env_str("BOUNCE_DOMAIN", "bounces.tayori.localhost")

# The platform's default SMTP relay for organisations without their own. TLS is always
# required and verified; DELIVERY_RELAY_CA_FILE adds a private CA (the bundled sink's
# development CA by default).
DELIVERY_RELAY_HOST = env_str("DELIVERY_RELAY_HOST", SMTP_SINK_HOST)
DELIVERY_RELAY_PORT = env_int("DELIVERY_RELAY_PORT", SMTP_SINK_PORT)
DELIVERY_RELAY_SECURITY = env_str("DELIVERY_RELAY_SECURITY", "starttls")
DELIVERY_RELAY_USERNAME = env_str("DELIVERY_RELAY_USERNAME")
DELIVERY_RELAY_PASSWORD = env_secret("DELIVERY_RELAY_PASSWORD")
DELIVERY_RELAY_CA_FILE = env_str("DELIVERY_RELAY_CA_FILE", str(VAR_DIR / "tls" / "ca.pem"))
DELIVERY_RELAY_RATE = env_int("DELIVERY_RELAY_RATE", 500)
# Messages per second at most to one destination domain (all relays together).
DELIVERY_DOMAIN_RATES = {
    "gmail.com": env_int("RATE_GMAIL", 200),
    "docomo.ne.jp": env_int("RATE_DOCOMO", 20),
    "ezweb.ne.jp": env_int("RATE_AU", 20),
    "softbank.ne.jp": env_int("RATE_SOFTBANK", 20),
    "i.softbank.jp": env_int("RATE_SOFTBANK", 20),
}
# Circuit breaker: pause a campaign whose failure rate passes this percentage once this
# many of its messages were attempted.
DELIVERY_BREAKER_MIN_SENDS = env_int("DELIVERY_BREAKER_MIN_SENDS", 500)
DELIVERY_BREAKER_FAILURE_PERCENT = env_int("DELIVERY_BREAKER_FAILURE_PERCENT", 5)
# The inbound SMTP endpoint (bounces, complaints, mailto unsubscribes): the MX of
# BOUNCE_DOMAIN points here. A certificate for STARTTLS in production.
INBOUND_SMTP_HOST = env_str("INBOUND_SMTP_HOST", "127.0.0.1")
INBOUND_SMTP_PORT = env_int("INBOUND_SMTP_PORT", 2525)
INBOUND_TLS_CERT = env_str("INBOUND_TLS_CERT")
INBOUND_TLS_KEY = env_str("INBOUND_TLS_KEY")
# Seconds after which the maintenance job re-publishes a queued row nobody claimed, and
# turns a row left in "sending" by a dead worker into "unknown" (never re-sent).
DELIVERY_LOST_QUEUED_AFTER = env_int("DELIVERY_LOST_QUEUED_AFTER", 300)
DELIVERY_STUCK_SENDING_AFTER = env_int("DELIVERY_STUCK_SENDING_AFTER", 600)
