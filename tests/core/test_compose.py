"""docker-compose.yml is valid (what `docker compose config` checks) and keeps the back-end services private."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.servers import REPO_ROOT

COMPOSE = Path(sys.executable).parent / "docker-compose"


def test_compose_file_is_valid_and_only_the_frontend_is_published() -> None:
    result = subprocess.run([str(COMPOSE), "-f", "docker-compose.yml", "config", "--format", "json"],
                            cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    services = config["services"]
    assert set(services) == {"postgres", "redis", "orthanc", "backend", "worker", "frontend"}
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"frontend"}
    assert config["networks"]["internal"]["internal"] is True
    for name in ("postgres", "redis", "orthanc"):
        assert set(services[name]["networks"]) == {"internal"}
    assert services["worker"]["build"]["args"] == {"EXTRAS": "ml"}


def _config() -> dict:
    result = subprocess.run([str(COMPOSE), "-f", "docker-compose.yml", "config", "--format", "json"],
                            cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_each_component_holds_only_its_own_credentials() -> None:
    """Least privilege between components (security review, finding 7)."""
    config = _config()
    services = config["services"]
    env = {name: service.get("environment") or {} for name, service in services.items()}
    postgres_password = env["postgres"]["POSTGRES_PASSWORD"]
    orthanc_db_password = env["orthanc"]["ORTHANC_DB_PASSWORD"]
    redis_password = env["redis"]["REDISCLI_AUTH"]
    front_password = env["orthanc"]["ORTHANC_FRONT_PASSWORD"]
    backend_orthanc_password = env["backend"]["ORTHANC_PASSWORD"]
    assert len({postgres_password, orthanc_db_password, redis_password, front_password,
                backend_orthanc_password}) == 5

    # The backend is reachable only through the frontend: no published port, only the internal network.
    assert not services["backend"].get("ports") and set(services["backend"]["networks"]) == {"internal"}
    assert set(services["worker"]["networks"]) == {"internal"}
    assert set(services["frontend"]["networks"]) == {"edge", "internal"}

    # Orthanc: its own PostgreSQL role and password, never the database owner's.
    orthanc_env = " ".join(str(v) for v in env["orthanc"].values())
    assert env["orthanc"]["ORTHANC_DB_USER"] == "orthanc" and postgres_password not in orthanc_env
    assert "medcloud:" not in env["orthanc"]["MEDCLOUD_EFFECTIVE_DATABASE_URL"]
    assert redis_password not in orthanc_env
    assert env["postgres"]["ORTHANC_DB_PASSWORD"] == orthanc_db_password
    init = (REPO_ROOT / "deploy" / "compose" / "postgres-init.sql").read_text()
    assert "CREATE ROLE orthanc LOGIN" in init and "OWNER orthanc" in init
    assert "REVOKE CONNECT, TEMPORARY ON DATABASE medcloud FROM PUBLIC" in init

    # nginx: the front server's Orthanc user only (read frames and bulk data), no database or Redis secret.
    frontend_env = " ".join(str(v) for v in env["frontend"].values())
    assert env["frontend"]["ORTHANC_FRONT_PASSWORD"] == front_password
    for secret in (backend_orthanc_password, postgres_password, orthanc_db_password, redis_password):
        assert secret not in frontend_env
    assert "ORTHANC_PASSWORD" not in env["frontend"]

    # Redis requires its password, and the backend's URL carries it.
    assert services["redis"]["command"][-2:] == ["--requirepass", redis_password]
    for name in ("backend", "worker"):
        assert env[name]["REDIS_URL"] == f"redis://:{redis_password}@redis:6379/0"

    # Mail lands in a private volume, never on the console.
    assert env["backend"]["EMAIL_BACKEND"] == "medcloud.core.mail.PrivateFileEmailBackend"
    assert any(v["target"] == env["backend"]["EMAIL_FILE_PATH"] for v in services["backend"]["volumes"])
