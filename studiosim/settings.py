"""Settings for studiosim.

Every switch is an environment variable (documented in ``.env.example``). With none
set, the project runs on the embedded default: a SQLite file and an in-process
cache, with Celery tasks executed in-process.
"""

import os
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it in the environment (see .env.example), "
            "or set DEBUG=true for local development only."
        )
    SECRET_KEY = "django-insecure-development-only-key-never-use-in-production"

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "strawberry_django",
    "studios",
    "forecasting",
    "optimization",
    "insights",
    "scenarios",
    "exports",
    "web",
]

MIDDLEWARE = [
    "studiosim.database.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "studiosim.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "studiosim" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "studiosim.wsgi.application"
ASGI_APPLICATION = "studiosim.asgi.application"

# The embedded default is a SQLite file next to manage.py; DATABASE_URL switches
# engines (postgres://user@host:port/name) with no code change.
DATABASES = {
    "default": env.db_url(
        "DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
    )
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
# Bounded waits (studiosim.database): seconds to open a connection, and seconds a
# statement may run (0 = no limit) in web requests and in batch work (training,
# evaluation, retrain jobs). Reads on an open connection are given up on 2 s
# after the statement timeout.
DATABASE_CONNECT_TIMEOUT = env.int("DATABASE_CONNECT_TIMEOUT", default=3)
DATABASE_STATEMENT_TIMEOUT = env.float("DATABASE_STATEMENT_TIMEOUT", default=5.0)
DATABASE_BATCH_STATEMENT_TIMEOUT = env.float(
    "DATABASE_BATCH_STATEMENT_TIMEOUT", default=1800.0
)
# The client gives up on a silent connection this long after the statement
# timeout, so that a statement still running is cancelled by the server first.
DATABASE_READ_TIMEOUT_MARGIN = 2.0
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend with the read timeout (studiosim.postgresql).
    DATABASES["default"]["ENGINE"] = "studiosim.postgresql"
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    # libpq counts anything under 2 s as 2 s.
    _options["connect_timeout"] = max(DATABASE_CONNECT_TIMEOUT, 2)
    if DATABASE_STATEMENT_TIMEOUT > 0:
        _options["options"] = (
            f"-c statement_timeout={int(DATABASE_STATEMENT_TIMEOUT * 1000)}"
        )
        _options["read_timeout"] = (
            DATABASE_STATEMENT_TIMEOUT + DATABASE_READ_TIMEOUT_MARGIN
        )
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the dev server read while a management command writes.
    DATABASES["default"].setdefault("OPTIONS", {})["init_command"] = (
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
    )
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "TIMEOUT": env.int("CACHE_TIMEOUT", default=3600),
            "KEY_PREFIX": "studiosim",
            "OPTIONS": {
                # Redis being down must slow the API down, never break it.
                "IGNORE_EXCEPTIONS": True,
                "SERIALIZER": "django_redis.serializers.json.JSONSerializer",
                "SOCKET_CONNECT_TIMEOUT": 0.5,
                "SOCKET_TIMEOUT": 0.5,
            },
        }
    }
    DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "studiosim",
            "TIMEOUT": env.int("CACHE_TIMEOUT", default=3600),
        }
    }

# Answers each process keeps in memory in front of Redis (keys are versioned, so
# these copies are never stale); 0 turns it off. Off without Redis: the
# local-memory cache is in-process already.
CACHE_LOCAL_ENTRIES = env.int("CACHE_LOCAL_ENTRIES", default=1024 if REDIS_URL else 0)

# Celery: the broker defaults to REDIS_URL; with neither, tasks run in-process so
# the embedded default needs no worker.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
# Results are kept only for chords (a batch forecast's chunks, whose callback
# finalises the run): in Redis next to the broker, for a day. Other tasks keep
# their state in the database and ignore results.
CELERY_RESULT_BACKEND = (
    env.str("CELERY_RESULT_BACKEND", default=CELERY_BROKER_URL) or None
)
CELERY_RESULT_EXPIRES = env.int("CELERY_RESULT_EXPIRES", default=24 * 3600)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)
}

# Retrain jobs (forecasting.jobs): a running job's heartbeat interval, the
# silence after which its worker counts as lost (it is then queued again, up to
# RETRAIN_MAX_ATTEMPTS runs, or failed), and how long a job may wait in the
# queue before it counts as never picked up. Seconds.
RETRAIN_HEARTBEAT_SECONDS = env.float("RETRAIN_HEARTBEAT_SECONDS", default=10.0)
RETRAIN_LEASE_SECONDS = env.float("RETRAIN_LEASE_SECONDS", default=60.0)
RETRAIN_MAX_ATTEMPTS = env.int("RETRAIN_MAX_ATTEMPTS", default=2)
RETRAIN_QUEUE_TIMEOUT = env.float("RETRAIN_QUEUE_TIMEOUT", default=1800.0)

# Days a prediction log is kept (manage.py prune_prediction_logs, docs/operations.md).
# 400 by default: predictions reach 12 months ahead, and a log deleted before its
# months arrive never gets an actual outcome for live accuracy.
PREDICTION_LOG_RETENTION_DAYS = env.int("PREDICTION_LOG_RETENTION_DAYS", default=400)
# On PostgreSQL the log is partitioned by month (forecasting.partitions): each
# prune run creates the current month's partition and this many after it, so rows
# always find their month's partition even if a few runs are missed.
PREDICTION_LOG_PARTITIONS_AHEAD = env.int("PREDICTION_LOG_PARTITIONS_AHEAD", default=3)

OPENAI_API_KEY = env.str("OPENAI_API_KEY", default="")
OPENAI_MODEL = env.str("OPENAI_MODEL", default="gpt-4o-mini")
OPENAI_BASE_URL = env.str("OPENAI_BASE_URL", default="") or None
# Seconds a request waits for the LLM's advice before answering with the rules
# alone; after a failure the LLM is not asked again for OPENAI_COOLDOWN seconds.
OPENAI_TIMEOUT = env.float("OPENAI_TIMEOUT", default=4.0)
OPENAI_COOLDOWN = env.float("OPENAI_COOLDOWN", default=60.0)
FRONTEND_BASE_URL = env.str("FRONTEND_BASE_URL", default="")

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "web:studio_list"

# Training at chain scale (SPEC §15): threads of the learners (0: every core the
# process may use) and the most studios a training run learns from (a stratified
# sample of the chain; every studio is still forecast; 0: no cap). The default cap,
# 1,000, is where held-out accuracy stopped improving (bench/learning_curve.py).
TRAIN_N_JOBS = env.int("TRAIN_N_JOBS", default=0) or (
    len(os.sched_getaffinity(0))
    if hasattr(os, "sched_getaffinity")
    else (os.cpu_count() or 1)
)
TRAIN_MAX_STUDIOS = env.int("TRAIN_MAX_STUDIOS", default=1000) or None


def _currency_rates(text: str) -> dict[str, float]:
    """``JPY=150,EUR=0.92`` as ``{"JPY": 150.0, "EUR": 0.92}``, or
    ImproperlyConfigured naming the entry that is not ``CODE=units``."""
    rates: dict[str, float] = {}
    for entry in filter(None, (part.strip() for part in text.split(","))):
        code, _, units = entry.partition("=")
        code = code.strip().upper()
        try:
            value = float(units)
        except ValueError:
            value = float("nan")
        if len(code) != 3 or not code.isalpha() or not (0 < value < float("inf")):
            raise ImproperlyConfigured(
                f"CURRENCY_RATES: {entry!r} is not CODE=units (such as JPY=150: the "
                "units of the currency a US dollar buys)"
            )
        rates[code] = value
    return rates


# The units of each currency a US dollar buys: the tactics catalogue's monthly
# costs, written in dollars, are converted for studios in those currencies
# (optimization.tactics.cost_factor); a studio in another one gets them as written.
CURRENCY_RATES = _currency_rates(env.str("CURRENCY_RATES", default=""))

MODEL_ARTIFACT_DIR = Path(
    env.str("MODEL_ARTIFACT_DIR", default=str(BASE_DIR / "var" / "models"))
)

# Optional MLflow tracking of training runs (docs/mlflow.md); off when empty.
MLFLOW_TRACKING_URI = env.str("MLFLOW_TRACKING_URI", default="")
MLFLOW_EXPERIMENT_NAME = env.str(
    "MLFLOW_EXPERIMENT_NAME", default="studiosim-forward-model"
)

AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "var" / "static")))

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend"
)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="studiosim@localhost")

# Production hardening; each can be relaxed from the environment (for example
# behind a TLS-terminating proxy, set SECURE_PROXY_SSL_HEADER=true).
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# Probes inside the network ask over plain HTTP; a redirect would read as a failure.
SECURE_REDIRECT_EXEMPT = [r"^health/$"]
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool(
    "SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG
)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
if env.bool("SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
    },
}

# GraphiQL and introspection are on in development only, unless enabled here.
GRAPHIQL_ENABLED = env.bool("GRAPHIQL_ENABLED", default=DEBUG)
