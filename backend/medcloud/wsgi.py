"""WSGI entry point (management tools only; the product is served through ASGI)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medcloud.settings.local")

application = get_wsgi_application()
