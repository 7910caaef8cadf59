"""Settings of the test project: SQLite by default, the test PostgreSQL cluster when
``QPROF_DJANGO_PG`` holds its ``postgresql://user@host:port/db`` URL. Two aliases on each,
so capture is checked for every alias."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlsplit

SECRET_KEY = "qprof-test-not-secret"
DEBUG = False
USE_TZ = True
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "nplusone_django.urls"
INSTALLED_APPS = ["django.contrib.contenttypes", "nplusone_django.library"]
MIDDLEWARE = ["qprof.django.middleware.QprofMiddleware"]
QPROF = {"threshold": 5, "min_ms": 50, "server_timing": True}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"


def _databases() -> dict:
    url = os.environ.get("QPROF_DJANGO_PG")
    if url:
        parts = urlsplit(url)
        base = {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": parts.hostname,
            "PORT": parts.port,
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
        }
        return {"default": {**base, "NAME": "qprof_django"}, "other": {**base, "NAME": "qprof_django_other"}}
    folder = Path(os.environ.get("QPROF_DJANGO_SQLITE_DIR") or tempfile.mkdtemp(prefix="qprof-django-"))
    return {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(folder / "default.sqlite3"), "TEST": {"NAME": str(folder / "test_default.sqlite3")}},
        "other": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(folder / "other.sqlite3"), "TEST": {"NAME": str(folder / "test_other.sqlite3")}},
    }


DATABASES = _databases()
LOGGING = {"version": 1, "disable_existing_loggers": False}
