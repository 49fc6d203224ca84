"""The whole configuration, from the environment (compose passes it)."""
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
# The release: a file each release image adds (app/releases/NAME/RELEASE).
APP_RELEASE = (BASE_DIR / "RELEASE").read_text().strip()
SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
DEBUG = False
# Loopback (the published nginx port) and the compose service names.
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "app", "web"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "items",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "realstack.urls"
WSGI_APPLICATION = "realstack.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": os.environ.get("DATABASE_HOST", "db"),
        "NAME": os.environ["DATABASE_NAME"],
        "USER": os.environ["DATABASE_USER"],
        "PASSWORD": os.environ["DATABASE_PASSWORD"],
        "CONNECT_TIMEOUT": 3,
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
USE_TZ = True
TIME_ZONE = "UTC"
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/api/me/"
# CSRF: the cookie and the form's token must match; on plain HTTP Django
# 3.2 checks no Referer or Origin, so no CSRF_TRUSTED_ORIGINS is needed.

# Server errors on stderr, as a deployed app would log them.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django.request": {"handlers": ["console"], "level": "ERROR"}},
}
