"""Real processes for tests: the web server as `make run` serves it (nginx: TLS, HTTP/2, in front of
uvicorn on loopback) and a Celery worker, on the test database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tls_pair() -> tuple[str, str]:
    out = subprocess.run([str(REPO_ROOT / "scripts" / "tls.sh")], check=True, capture_output=True, text=True)
    cert, key = out.stdout.split()
    return cert, key


def server_env(database_name: str, **overrides: str) -> dict[str, str]:
    """The environment of a server process that must see the test database, not the development one."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="medcloud.settings.test",
        DJANGO_BEHIND_PROXY="true",  # TLS ends at nginx, as in `make run` and the containers
        MEDCLOUD_NUM_PROXIES="1",
        DATABASE_URL=f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{db['HOST']}:{db['PORT']}/{database_name}",
        PYTHONPATH=str(REPO_ROOT / "backend"),
    )
    env.update(overrides)
    return env


@contextmanager
def serving_https(env: dict[str, str], log_path: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """The backend (uvicorn on loopback) behind the front server (nginx: TLS, HTTP/2, frames from the Orthanc
    of ``env``), as `make run` serves them; yield (the HTTPS base URL, the backend process). Read grants are
    remembered as in production (MEDCLOUD_READ_GRANT_SECONDS, default 5 s). The benchmarks use it too."""
    from medcloud.core import frontserver

    cert, key = tls_pair()
    with frontserver.serving(env, log_path, cert=cert, key=key, venv_bin=VENV_BIN,
                             read_grant_seconds=env.get("MEDCLOUD_READ_GRANT_SECONDS")) as served:
        yield served


@contextmanager
def https_server(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """`serving_https`, yielding the HTTPS base URL only."""
    with serving_https(env, log_path) as (base_url, _proc):
        yield base_url


@contextmanager
def celery_worker(env: dict[str, str], log_path: Path, hostname: str = "test-worker",
                  queues: str = "celery") -> Iterator[subprocess.Popen]:
    """Run a real Celery worker against the real Redis; yield once it answers a ping."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(VENV_BIN / "celery"), "-A", "medcloud", "worker", "--concurrency=1", "--pool=solo",
             f"--hostname={hostname}@%h", "--loglevel=INFO", "--without-gossip", "--without-mingle", "-Q", queues],
            env=env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            from medcloud.celery import app

            deadline = time.monotonic() + 60
            while not _pinged(app):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"worker did not start: {log_path.read_text()[-2000:]}")
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


def _pinged(app) -> bool:
    """Whether a worker answers; a broker connection that broke (Redis restarted) is dropped and asked again."""
    from kombu.exceptions import OperationalError
    from redis.exceptions import RedisError

    try:
        return bool(app.control.ping(timeout=0.5))
    except (OSError, RedisError, OperationalError):
        reset_broker_connections(app)
        return False


def reset_broker_connections(app) -> None:
    """Drop this process's pooled broker connections (they died with a restarted Redis); new ones are made on
    the next use. kombu keeps its pools process-wide (kombu.pools) and Celery caches them: both renewed (Celery's
    private attributes, in tests only)."""
    from kombu import pools

    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None
