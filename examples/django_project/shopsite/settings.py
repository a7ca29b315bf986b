"""Settings of the example shop: huey through ``huey.contrib.djhuey``.

Environment variables choose where things live (the tests point them at temporary files):

- ``SHOP_DB``: the Django database file (default ``db.sqlite3`` here);
- ``SHOP_HUEY``: ``sqlite`` (default: ``SHOP_HUEY_FILE``, default ``huey.db`` here) or
  ``redis`` (``SHOP_REDIS_URL``, default ``redis://localhost:6379/0``);
- ``SHOP_DEBUG=1``: DEBUG, and so huey's immediate mode.
"""

import importlib.util
import os
from pathlib import Path

import django

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "example-only-not-secret"
DEBUG = os.environ.get("SHOP_DEBUG") == "1"
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "testserver"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "huey.contrib.djhuey",
    "orders",
    "reports",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "shopsite.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("SHOP_DB", str(BASE_DIR / "db.sqlite3")),
        # The consumer and the web process write to the same file.
        "OPTIONS": {"timeout": 30},
    }
}

USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# -- huey -----------------------------------------------------------------------------------------
if os.environ.get("SHOP_HUEY", "sqlite") == "redis":
    HUEY = {
        "huey_class": "huey.RedisHuey",
        "name": "shop",
        "connection": {"url": os.environ.get("SHOP_REDIS_URL", "redis://localhost:6379/0")},
        "consumer": {"workers": 2, "scheduler_interval": 1},
    }
else:
    HUEY = {
        "huey_class": "huey.SqliteHuey",
        "name": "shop",
        "filename": os.environ.get("SHOP_HUEY_FILE", str(BASE_DIR / "huey.db")),
        "consumer": {"workers": 2, "scheduler_interval": 1},
    }

# A second queue with its own consumer (`manage.py run_huey --queue reports`): same storage,
# its own name.
HUEY_QUEUES = {
    "reports": {"name": "shop-reports", "consumer": {"workers": 1}},
}

# Django's tasks framework on the same queues: built into Django 6, the django-tasks backport
# on Django 5.2.
if django.VERSION < (6, 0) and importlib.util.find_spec("django_tasks") is not None:
    INSTALLED_APPS.append("django_tasks")
if django.VERSION >= (6, 0) or "django_tasks" in INSTALLED_APPS:
    TASKS = {
        "default": {
            "BACKEND": "huey.contrib.djhuey.tasks_backend.HueyBackend",
            "OPTIONS": {"async_tasks": True},  # orders.jobs.double is an async def task.
        }
    }
