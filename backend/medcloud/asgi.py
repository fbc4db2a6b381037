"""ASGI entry point, served by uvicorn on loopback behind nginx (TLS, HTTP/2; ADRs 0006, 0007).

/dicom-web/ goes through a lean handler (core/lean_asgi.py); everything else through Django's full stack. The
front server's per-frame auth_request is answered before Django when a read grant is remembered (ADR 0006).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medcloud.settings.local")

django_application = get_asgi_application()  # sets Django up: import the rest after it

from medcloud.core.lean_asgi import ProxyASGIHandler, answer_remembered_authz, route_by_path  # noqa: E402
from medcloud.pacs.dicomweb import authz_remembered  # noqa: E402
from medcloud.pacs.uploads import clean_stale_uploads  # noqa: E402

clean_stale_uploads()  # what a crashed backend left in the upload folder (PHI until de-identified)

application = answer_remembered_authz(route_by_path(django_application, ProxyASGIHandler()), authz_remembered)
