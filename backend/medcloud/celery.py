"""The Celery application: inference and other background jobs run in its workers."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medcloud.settings.local")

app = Celery("medcloud")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
