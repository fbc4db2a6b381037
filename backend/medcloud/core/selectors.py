"""Reads for the core app: the state of the components the platform depends on."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import redis
from django.conf import settings
from django.db import connection

from .orthanc import OrthancClient

logger = logging.getLogger(__name__)
WORKER_PING_TIMEOUT_S = 1.5


@dataclass
class ComponentHealth:
    name: str
    healthy: bool
    latency_ms: float
    detail: str


def _timed(name: str, probe: Callable[[], str]) -> ComponentHealth:
    started = time.perf_counter()
    try:
        detail = probe()
        healthy = True
    except Exception as exc:  # a health check reports every failure instead of raising it
        detail, healthy = f"{exc.__class__.__name__}: {exc}"[:300], False
    return ComponentHealth(name, healthy, round((time.perf_counter() - started) * 1000, 2), detail)


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT version()")
            version = cursor.fetchone()[0]
    finally:
        connection.close()  # the probe runs in a pool thread: do not leak its connection
    return version.split(",")[0]


def _redis() -> str:
    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
        return f"redis {client.info('server')['redis_version']}"
    finally:
        client.close()


def _orthanc() -> str:
    with OrthancClient(timeout=3) as orthanc:
        system = orthanc.system()
        plugins = orthanc.plugins()
    missing = {"dicom-web", "postgresql-index", "python"} - set(plugins)
    if missing:
        raise RuntimeError(f"Orthanc plugins not loaded: {', '.join(sorted(missing))}")
    return f"orthanc {system.version}, plugins: {', '.join(sorted(plugins))}"


def _worker() -> str:
    from medcloud.celery import app

    replies = app.control.ping(timeout=WORKER_PING_TIMEOUT_S, limit=1)
    if not replies:
        raise RuntimeError("no Celery worker answered")
    return f"{len(replies)} worker(s): {', '.join(name for reply in replies for name in reply)}"


PROBES: dict[str, Callable[[], str]] = {
    "database": _database,
    "redis": _redis,
    "orthanc": _orthanc,
    "worker": _worker,
}


def platform_health(*, detailed: bool = False) -> dict[str, Any]:
    """Probe every component in parallel; the whole check takes as long as the slowest probe. Versions, plugin
    lists, worker names and error texts (``detail``) only when ``detailed`` (an admin asks): load balancers and
    anonymous callers learn up or down and the latency, nothing that maps the stack for an attacker."""
    with ThreadPoolExecutor(max_workers=len(PROBES)) as pool:
        futures = {name: pool.submit(_timed, name, probe) for name, probe in PROBES.items()}
        components = [futures[name].result() for name in PROBES]
    for component in components:
        if not component.healthy:
            logger.warning("health: %s is down: %s", component.name, component.detail)
    hidden = set() if detailed else {"detail"}
    return {
        "status": "ok" if all(c.healthy for c in components) else "degraded",
        "components": {c.name: {k: v for k, v in asdict(c).items() if k != "name" and k not in hidden}
                       for c in components},
    }
