"""ASGI entry point, served by hypercorn over HTTP/2 + TLS.

/dicom-web/ goes through a lean handler (core/lean_asgi.py); everything else through Django's full stack.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medcloud.settings.local")

django_application = get_asgi_application()  # sets Django up: import the rest after it

from medcloud.core.lean_asgi import ProxyASGIHandler, route_by_path  # noqa: E402

application = route_by_path(django_application, ProxyASGIHandler())
