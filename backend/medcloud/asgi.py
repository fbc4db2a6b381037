"""ASGI entry point, served by hypercorn over HTTP/2 + TLS."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medcloud.settings.local")

application = get_asgi_application()
