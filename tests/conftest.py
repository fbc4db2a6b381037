"""Shared fixtures: the real services (PostgreSQL, Redis, Orthanc) that `make test` starts, and real servers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from medcloud.core.paths import shared_data_dir
from tests.support.servers import REPO_ROOT, celery_worker, https_server, server_env

SHARED_DATA = shared_data_dir()
LOG_DIR = REPO_ROOT / ".var" / "test-logs"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.fail(f"the shared data folder {SHARED_DATA} is missing (it sits beside the repository)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def mr_series_dir(shared_data: Path) -> Path:
    return shared_data / "dicom" / "mr_brain_sagittal"


@pytest.fixture(scope="session")
def test_database_name(django_db_setup, django_db_blocker) -> str:
    from django.conf import settings

    return str(settings.DATABASES["default"]["NAME"])


@pytest.fixture(scope="session")
def live_https(test_database_name: str) -> Iterator[str]:
    """The real servers (nginx: HTTP/2 over TLS, in front of uvicorn) on the test database. Tests that write
    data it must see use the `transactional_db` fixture so that their rows are committed."""
    with https_server(server_env(test_database_name), LOG_DIR / "web.log") as base_url:
        yield base_url


@pytest.fixture(scope="session")
def live_worker(test_database_name: str) -> Iterator[None]:
    with celery_worker(server_env(test_database_name), LOG_DIR / "worker.log"):
        yield


@pytest.fixture
def orthanc():
    from medcloud.core.orthanc import OrthancClient

    with OrthancClient() as client:
        yield client


# Fixtures that need the running servers (nginx + uvicorn, Orthanc, Redis, a Celery worker): a test that uses one
# is marked `services`, whatever its module says. `make test-fast` runs the others (`-m "not services and not
# slow"`): unit tests, and database-level tests of services and selectors on PostgreSQL alone.
SERVER_FIXTURES = {"live_https", "live_worker", "orthanc", "auth_server", "client", "client_h2", "series_factory",
                   "orthanc_cleanup", "attacker_and_victim"}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "after_all: runs after every other test of the session (a final scan)")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests that need servers (see SERVER_FIXTURES) and the TensorFlow ones (slow to import), before
    `-m` selects (tryfirst)."""
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.services)
        if "/tests/ai/" in str(item.path):
            item.add_marker(pytest.mark.slow)


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """The ``after_all`` tests run last (after pytest-django's own reordering): they look at what the whole
    suite left behind."""
    session.items.sort(key=lambda item: item.get_closest_marker("after_all") is not None)
