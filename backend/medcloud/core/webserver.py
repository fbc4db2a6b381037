"""The backend's ASGI server (ADR 0007): uvicorn with httptools and uvloop, plain HTTP on loopback behind nginx.

    python -m medcloud.core.webserver --port 58001 [--workers 1]     # execs uvicorn (same process id)

Forwarded headers are read by Django (DJANGO_BEHIND_PROXY, one hop), not by uvicorn; nginx writes the access
log; the keep-alive outlives nginx's upstream one, so nginx never reuses a connection uvicorn is closing.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def backend_command(venv_bin: Path, port: int | str, workers: int | str = 1, host: str = "127.0.0.1") -> list[str]:
    return [str(venv_bin / "uvicorn"), "--host", host, "--port", str(port), "--workers", str(workers),
            "--http", "httptools", "--loop", "uvloop", "--lifespan", "off", "--no-proxy-headers",
            "--no-access-log", "--timeout-keep-alive", "75", "medcloud.asgi:application"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser("python -m medcloud.core.webserver")
    parser.add_argument("--port", required=True)
    parser.add_argument("--workers", default="1")
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    command = backend_command(Path(sys.executable).parent, args.port, args.workers, args.host)
    os.execv(command[0], command)  # noqa: S606 - our own server, arguments built above


if __name__ == "__main__":
    main()
