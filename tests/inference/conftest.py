"""The inference tests use the PACS tests' fixtures (users, uploads through nginx) and a real Celery worker."""

from tests.pacs.conftest import client, client_h2, make_user, orthanc_cleanup, series_factory  # noqa: F401
