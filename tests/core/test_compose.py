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
