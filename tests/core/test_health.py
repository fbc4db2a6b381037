"""/api/health/ over real HTTP/2 + TLS, against the real database, Redis, Orthanc and a Celery worker."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import LOG_DIR
from tests.support.servers import free_port, https_server, server_env

pytestmark = [pytest.mark.services]  # servers of their own, a Celery worker


def _admin_bearer() -> dict[str, str]:
    from rest_framework_simplejwt.tokens import AccessToken

    from tests.factories import create_user

    return {"Authorization": f"Bearer {AccessToken.for_user(create_user('admin'))}"}


@pytest.mark.django_db(transaction=True)
def test_anonymous_callers_learn_up_or_down_and_nothing_else(live_https: str, live_worker: None) -> None:
    """Security review, finding 9: versions and exception texts were shown to anyone."""
    response = httpx.get(f"{live_https}/api/health/", verify=False, timeout=10)
    assert response.status_code == 200
    for component in response.json()["components"].values():
        assert set(component) == {"healthy", "latency_ms"}
    assert "orthanc" not in response.text.replace('"orthanc"', "") and "redis " not in response.text


@pytest.mark.django_db(transaction=True)
def test_every_component_healthy_over_http2(live_https: str, live_worker: None) -> None:
    with httpx.Client(http2=True, verify=False, timeout=10) as client:
        response = client.get(f"{live_https}/api/health/", headers=_admin_bearer())
    assert response.http_version == "HTTP/2"
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["components"]) == {"database", "redis", "orthanc", "worker"}
    for name, component in body["components"].items():
        assert component["healthy"] is True, (name, component)
        assert component["latency_ms"] >= 0
    assert "postgresql-index" in body["components"]["orthanc"]["detail"]


@pytest.mark.django_db(transaction=True)
def test_orthanc_down_turns_health_red(test_database_name: str) -> None:
    # An Orthanc URL where nothing listens: what the backend sees when Orthanc is stopped.
    env = server_env(test_database_name, ORTHANC_URL=f"http://127.0.0.1:{free_port()}")
    with https_server(env, LOG_DIR / "web-orthanc-down.log") as base_url:
        anonymous = httpx.get(f"{base_url}/api/health/", verify=False, timeout=10)
        response = httpx.get(f"{base_url}/api/health/", verify=False, timeout=10, headers=_admin_bearer())
    assert anonymous.status_code == 503 and "detail" not in anonymous.json()["components"]["orthanc"]
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["components"]["orthanc"]["healthy"] is False
    assert "unreachable" in body["components"]["orthanc"]["detail"]
    assert body["components"]["database"]["healthy"] is True


@pytest.mark.django_db(transaction=True)
def test_no_worker_turns_health_red(test_database_name: str) -> None:
    # A broker database on which no worker listens: what the backend sees when every worker is gone.
    from django.conf import settings

    empty_broker = settings.REDIS_URL.rsplit("/", 1)[0] + "/14"
    env = server_env(test_database_name, REDIS_URL=empty_broker)
    with https_server(env, LOG_DIR / "web-no-worker.log") as base_url:
        response = httpx.get(f"{base_url}/api/health/", verify=False, timeout=10, headers=_admin_bearer())
    assert response.status_code == 503
    assert response.json()["components"]["worker"]["healthy"] is False
    assert response.json()["components"]["worker"]["detail"].endswith("no Celery worker answered")
