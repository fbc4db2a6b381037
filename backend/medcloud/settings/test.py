"""Settings for pytest: the real PostgreSQL, Redis and Orthanc, an in-memory mail outbox."""

import os

from .base import *  # noqa: F403

EMAIL_BACKEND = os.environ.get("MEDCLOUD_TEST_EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend")
# A test server in another process writes its mail here (filebased backend) for the tests to read.
EMAIL_FILE_PATH = os.environ.get("MEDCLOUD_TEST_EMAIL_DIR", "")
CELERY_TASK_ALWAYS_EAGER = False
# Transactional tests truncate every table (data keys too) between tests: servers re-read the primary key.
MEDCLOUD_KEYRING_REFRESH_SECONDS = 0
# Most tests check that a revoked share is refused at once: no remembered grants unless a test asks for them.
PACS_READ_GRANT_SECONDS = float(os.environ.get("MEDCLOUD_READ_GRANT_SECONDS", "0"))
