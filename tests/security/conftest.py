"""The security tests use the PACS tests' fixtures: users, real uploads through nginx, Orthanc clean-up."""

from tests.pacs.conftest import client, client_h2, make_user, orthanc_cleanup, series_factory  # noqa: F401
