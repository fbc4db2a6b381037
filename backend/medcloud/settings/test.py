"""Settings for pytest: the real PostgreSQL, Redis and Orthanc, an in-memory mail outbox."""

from .base import *  # noqa: F403

EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_TASK_ALWAYS_EAGER = False
