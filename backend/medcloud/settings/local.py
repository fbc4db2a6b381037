"""Settings for `make run` on a developer's machine (still HTTPS with a self-signed certificate)."""

from .base import *  # noqa: F403
from .base import env_list

DEBUG = False  # DEBUG pages could leak PHI; local runs behave like production, minus the TLS certificate
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
