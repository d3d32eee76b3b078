"""Settings from the environment (twelve-factor, as the shop's deployments set them):

DATABASE_URL   postgresql://user:password@host:port/name (also postgres://, postgresql+psycopg://) or
               sqlite:///path (WAL, a busy timeout); default a SQLite file beside this package
REDIS_URL      Celery's broker and result backend (default redis://127.0.0.1:6379/0)
PAYSTACK_URL, MOLLIE_URL   the providers' API base URLs; PAYSTACK_API_KEY, MOLLIE_API_KEY their keys
PROVIDER_CONNECT_TIMEOUT, PROVIDER_READ_TIMEOUT   seconds (default 1 and 3)
PAYMENT_CAPTURE   automatic (default: captured by a worker once the order is committed) or manual (captured when
               the orderCapture mutation asks, as Saleor's "authorize only" channels)
SECRET_KEY     required unless DEBUG=1; ALLOWED_HOSTS comma-separated; LOG_LEVEL (default INFO)
MONEYPATH_CATALOG   the moneypath catalog (default ops/moneypath.yaml beside this file)
PROMETHEUS_MULTIPROC_DIR   set by whoever starts the web or Celery workers (one directory each): the metrics of
               all of its processes are summed there
"""

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent
DEBUG = os.environ.get("DEBUG", "") == "1"
SECRET_KEY = os.environ.get("SECRET_KEY") or ("insecure-dev-key" if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured("set SECRET_KEY (or DEBUG=1 for a development key)")
ALLOWED_HOSTS = os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",")


def database_from_url(url: str) -> dict:
    """Django's DATABASES entry for a URL (what dj-database-url does, for the two engines the shop runs on)."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme == "sqlite":
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": unquote(parts.path[1:]) or BASE_DIR / "shop.db",  # sqlite:////abs/path, sqlite:///relative
            # Several web and worker processes write: WAL lets readers go on, writers wait up to 5 s for the lock.
            "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                        "transaction_mode": "IMMEDIATE", "timeout": 5},
        }
    if scheme in ("postgres", "postgresql"):
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            "CONN_MAX_AGE": int(os.environ.get("CONN_MAX_AGE", "60")),
            "CONN_HEALTH_CHECKS": True,
        }
    raise ImproperlyConfigured(f"DATABASE_URL: unsupported scheme {parts.scheme!r}")


DATABASES = {"default": database_from_url(os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'shop.db'}"))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = ["djangoshop.payments"]
MIDDLEWARE = [
    "moneypath.instrument.django.DjangoMoneyPathMiddleware",  # first: its time covers the others
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]
ROOT_URLCONF = "djangoshop.urls"
WSGI_APPLICATION = "djangoshop.wsgi.application"
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]
USE_TZ = True
TIME_ZONE = "UTC"

# The money path's metrics (moneypath): the catalog ops/ was written from, `moneypath init`'s project.
MONEYPATH = {"CATALOG": os.environ.get("MONEYPATH_CATALOG", BASE_DIR / "ops" / "moneypath.yaml")}

PAYMENT_PROVIDERS = {
    "paystack": {"url": os.environ.get("PAYSTACK_URL", "http://127.0.0.1:9101"),
                 "api_key": os.environ.get("PAYSTACK_API_KEY", "sk_test_paystack")},
    "mollie": {"url": os.environ.get("MOLLIE_URL", "http://127.0.0.1:9102"),
               "api_key": os.environ.get("MOLLIE_API_KEY", "test_mollie")},
}
PROVIDER_TIMEOUT = (float(os.environ.get("PROVIDER_CONNECT_TIMEOUT", "1")),
                    float(os.environ.get("PROVIDER_READ_TIMEOUT", "3")))

PAYMENT_CAPTURE = os.environ.get("PAYMENT_CAPTURE", "automatic")
if PAYMENT_CAPTURE not in ("automatic", "manual"):
    raise ImproperlyConfigured(f"PAYMENT_CAPTURE: {PAYMENT_CAPTURE!r} is not automatic or manual")

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ACKS_LATE = True  # a capture whose worker died is run again (the provider's records show repeats)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
