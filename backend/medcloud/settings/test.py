"""Settings for pytest: the real PostgreSQL, Redis and Orthanc, an in-memory mail outbox."""

import os

from .base import *  # noqa: F403

EMAIL_BACKEND = os.environ.get("MEDCLOUD_TEST_EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend")
# A test server in another process writes its mail here (filebased backend) for the tests to read.
EMAIL_FILE_PATH = os.environ.get("MEDCLOUD_TEST_EMAIL_DIR", "")
CELERY_TASK_ALWAYS_EAGER = False
# Transactional tests truncate every table (data keys too) between tests: servers re-read the primary key.
MEDCLOUD_KEYRING_REFRESH_SECONDS = 0
# Read grants are remembered exactly as in production (base.py, MEDCLOUD_READ_GRANT_SECONDS): a test that
# checks a revocation waits out the grant window, as a user would.
