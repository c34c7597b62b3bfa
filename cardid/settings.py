"""Django settings for cardid; every deployment choice comes from cardid.env."""

import importlib.util
import os
from pathlib import Path

import dj_database_url

from cardid import env

# Whatever cardid writes — the SQLite file and its journals, keys, printed cards, uploads —
# is readable by its owner only (files 0600, directories 0700), in every process.
os.umask(0o077)
DATA_DIR = env.private_dir(env.data_dir())
# prometheus-client reads this when it is first imported: each process's counters go to a
# file here, and /metrics adds them up (cardid.telemetry, cardid.ops.views).
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(env.private_dir(DATA_DIR / "metrics")))
SECRET_KEY = env.secret_key()
DEBUG = env.debug()
ALLOWED_HOSTS = env.allowed_hosts()

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_tasks",
    "django_htmx",
    "django_tasks_db",
    "cardid.config",
    "cardid.audit",
    "cardid.directory",
    "cardid.cards",
    "cardid.jobs",
    "cardid.notifications",
    "cardid.outbound",
    "cardid.sync",
    "cardid.api",
    "cardid.access",
    "cardid.portal",
    "cardid.console",
    "cardid.ops",
]

MIDDLEWARE = [
    "cardid.ops.middleware.RequestSize",
    "cardid.ops.middleware.ClientAddress",
    "cardid.ops.middleware.DatabaseAway",
    "cardid.ops.middleware.HttpSecurity",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language: the one chosen on a page (a cookie), else the browser's Accept-Language.
    "cardid.ops.middleware.Locale",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# The API docs page with django-ninja's own Swagger UI files (nothing from a CDN): its
# templates and static files by their place, not as an app — importing ninja (and pydantic)
# at every start of every command would cost more than the rest of cardid's start-up.
NINJA = Path(importlib.util.find_spec("ninja").submodule_search_locations[0])
ROOT_URLCONF = "cardid.urls"
WSGI_APPLICATION = "cardid.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # Templates every door shares (the language switch); django-ninja's docs page.
        "DIRS": [Path(__file__).resolve().parent / "templates", NINJA / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "cardid.config.context.branding",
            ],
        },
    },
]


def _database() -> dict:
    url = env.database_url()
    # dj-database-url knows postgres:// and postgresql://; both are accepted.
    config = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    if config["ENGINE"] == "django.db.backends.sqlite3":
        config["OPTIONS"] = {
            # WAL lets readers go on while one writer writes; IMMEDIATE takes the write lock
            # at BEGIN so two writers queue instead of failing with "database is locked".
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
        }
        config.setdefault("TEST", {})["NAME"] = str(DATA_DIR / "test.sqlite3")
    else:
        # Fail fast while PostgreSQL is away (SPEC §11): no connection attempt or statement
        # hangs a request for long; CONN_HEALTH_CHECKS reconnects once it is back.
        config["OPTIONS"] = {
            # Statements run often on a connection are prepared (psycopg, from the fifth
            # run on): only cardid.db.fetch_one's server-binding cursors, the terminals'
            # look-ups; Django's own cursors bind on the client and are never prepared.
            "prepare_threshold": 5,
            "connect_timeout": 3,
            "options": "-c statement_timeout=60000 -c idle_in_transaction_session_timeout=300000",
        }
    return config


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TASKS = {"default": {"BACKEND": env.tasks_backend(), "QUEUES": []}}

# Administrators' passwords (SPEC §9): at least 12 characters, not a common password, not
# all digits, not like the name.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
# Dates as each language writes them (English: the ISO form), cardid/formats/<lang>.
FORMAT_MODULE_PATH = ["cardid.formats"]
# The languages of the console, the portal and the e-mails (SPEC §12); .po files in
# cardid/locale, compiled by ./dev (python -m cardid.locales).
LANGUAGES = [("en", "English"), ("de", "Deutsch"), ("fr", "Français"), ("es", "Español")]
LOCALE_PATHS = [Path(__file__).resolve().parent / "locale"]
LANGUAGE_COOKIE_NAME = "cardid_language"
LANGUAGE_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [NINJA / "static"]
# No STATIC_ROOT: WhiteNoise serves the files from the apps themselves (no collectstatic).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

CSRF_FAILURE_VIEW = "cardid.portal.views.csrf_failure"
# HTTPS (SPEC §9): behind a TLS-terminating proxy that says so in X-Forwarded-Proto
# (CARDID_PROXY_HTTPS=1), requests count as secure; over HTTPS, HSTS is sent and cookies
# are marked Secure (cardid.ops.middleware.HttpSecurity).
if env.proxy_https():
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = 365 * 24 * 3600  # SecurityMiddleware sends it over HTTPS only
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
CSRF_TRUSTED_ORIGINS = [
    f"{scheme}://{host}"
    for host in ALLOWED_HOSTS
    if host not in ("*",) and not host.startswith(".")
    for scheme in ("https", "http")
]
SILENCED_SYSTEM_CHECKS = [
    # Cookies are marked Secure per request, whenever it came over HTTPS (HttpSecurity), so
    # that a plain-HTTP test install on localhost still works.
    "security.W012",
    "security.W016",
    # The TLS proxy redirects HTTP to HTTPS (deploy/); HSTS for subdomains and the preload
    # list are the domain owner's decision, not cardid's.
    "security.W008",
    "security.W005",
    "security.W021",
]
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 8 * 3600
# Form fields read into memory at most (bodies are capped before, by RequestSize).
DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000_000

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {
        "console": {"class": "logging.StreamHandler"},
        "nowhere": {"class": "logging.NullHandler"},
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "cardid": {"level": "INFO"},
        # Django's line names its own setting (ALLOWED_HOSTS); cardid.ops.views logs one
        # that names CARDID_ALLOWED_HOSTS instead.
        "django.security.DisallowedHost": {"handlers": ["nowhere"], "propagate": False},
    },
}
