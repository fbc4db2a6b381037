"""The front server (nginx) outside the containers: `make run`, the tests and the benchmarks.

Renders ``frontend/nginx.conf.template`` (the file the frontend image uses too) into a complete nginx
configuration under a run folder and runs nginx in the foreground: TLS + HTTP/2 at the edge, the backend
(uvicorn, plain HTTP on loopback) behind it, frames and bulk data streamed from Orthanc after the
backend's authorisation (ADR 0006).

    python -m medcloud.core.frontserver --run-dir .var/front --listen 127.0.0.1:8443 \
        --cert C --key K --backend 127.0.0.1:8001      # renders, then execs nginx
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from string import Template
from urllib.parse import urlparse

from medcloud.core import webserver

REPO_ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = REPO_ROOT / "frontend" / "nginx.conf.template"
AUTHZ_JS = REPO_ROOT / "frontend" / "nginx-authz.js"
JS_MODULE_PATHS = ("/usr/lib/nginx/modules/ngx_http_js_module.so", "/usr/share/nginx/modules/ngx_http_js_module.so",
                   "/etc/nginx/modules/ngx_http_js_module.so")

MAIN = """# Rendered by medcloud.core.frontserver: do not edit (edit frontend/nginx.conf.template).
load_module {js_module};
daemon off;
master_process on;
worker_processes auto;
pid {run}/nginx.pid;
error_log {error_log} warn;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    # No query string (?q=<patient name>, ?patient_id=..., ?token=<viewer token>) and no Referer (the viewer's
    # URL, token included): the path, the status and the timing are what operating the front server needs.
    log_format medcloud '$remote_addr - [$time_local] "$request_method $uri $server_protocol" '
                        '$status $body_bytes_sent $request_time';
    access_log {access_log};
    client_body_temp_path {run}/tmp/client;
    proxy_temp_path {run}/tmp/proxy;
    fastcgi_temp_path {run}/tmp/fastcgi;
    uwsgi_temp_path {run}/tmp/uwsgi;
    scgi_temp_path {run}/tmp/scgi;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    include {server};
}}
"""


def nginx_binary() -> str:
    found = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx")
                                           if os.path.exists(p)), None)
    if not found:
        raise RuntimeError("nginx is not installed (scripts/install_system_deps.sh installs nginx-light)")
    return found


def js_module() -> str:
    found = next((p for p in JS_MODULE_PATHS if os.path.exists(p)), None)
    if not found:
        raise RuntimeError("nginx's njs module is not installed (scripts/install_system_deps.sh installs "
                           "libnginx-mod-http-js)")
    return found


def render(run_dir: Path, *, listen: str, cert: str, key: str, backend: str, orthanc_url: str,
           orthanc_user: str, orthanc_password: str, access_log: str = "off",
           read_grant_seconds: float = 5.0, raw_frames: bool = True) -> Path:
    """Write ``run_dir/nginx.conf`` (+ the server block beside it); return the main file.
    ``orthanc_user``/``orthanc_password``: the front server's own Orthanc user (ORTHANC_FRONT_*), which may only
    read frames and bulk data; never the backend's.
    ``read_grant_seconds``: how long a granted read of frames is remembered (0: never), as in the backend."""
    run_dir = Path(run_dir).resolve()
    (run_dir / "authz-cache").mkdir(parents=True, exist_ok=True)
    for sub in ("client", "proxy", "fastcgi", "uwsgi", "scgi"):
        (run_dir / "tmp" / sub).mkdir(parents=True, exist_ok=True)
    orthanc = urlparse(orthanc_url)
    values = {
        "MEDCLOUD_FRONT_LISTEN": listen,
        "MEDCLOUD_TLS_CERT": str(Path(cert).resolve()),
        "MEDCLOUD_TLS_KEY": str(Path(key).resolve()),
        "MEDCLOUD_BACKEND_UPSTREAM": backend,
        "MEDCLOUD_ORTHANC_UPSTREAM": f"{orthanc.hostname}:{orthanc.port or 80}",
        "MEDCLOUD_ORTHANC_BASIC": base64.b64encode(f"{orthanc_user}:{orthanc_password}".encode()).decode(),
        "MEDCLOUD_NGINX_JS": str(AUTHZ_JS),
        "MEDCLOUD_AUTHZ_CACHE": str(run_dir / "authz-cache"),
        # never longer than the backend's own window: nginx counts validity on a whole-second clock (an entry
        # can outlive its "Ns" by up to a second), so one second less; under two seconds: not remembered
        "MEDCLOUD_READ_GRANT_SECONDS": str(max(1, int(read_grant_seconds) - 1)),
        "MEDCLOUD_AUTHZ_NO_CACHE": "" if read_grant_seconds >= 2 else "1",
        "MEDCLOUD_RAW_FRAMES": "1" if raw_frames else "0",
    }
    server = run_dir / "server.conf"
    server.write_text(Template(TEMPLATE.read_text()).safe_substitute(values))
    server.chmod(0o600)  # it holds Orthanc's credentials
    main = run_dir / "nginx.conf"
    main.write_text(MAIN.format(run=run_dir, error_log=run_dir / "error.log",
                                access_log=access_log if access_log == "off" else f"{access_log} medcloud",
                                server=server, js_module=js_module()))
    return main


def front_credentials(environ: Mapping[str, str]) -> tuple[str, str]:
    """The front server's Orthanc user (may only GET frames and bulk data): ORTHANC_FRONT_USERNAME / _PASSWORD."""
    password = environ.get("ORTHANC_FRONT_PASSWORD") or ""
    if not password:
        raise RuntimeError("ORTHANC_FRONT_PASSWORD is not set (python3 scripts/ensure_env.py writes it into .env)")
    return environ.get("ORTHANC_FRONT_USERNAME") or "medcloud-front", password


def raw_frames_enabled(value: str | None) -> bool:
    """A MEDCLOUD_RAW_FRAMES value: single frames through MedCloud's Orthanc frame route (ADR 0008) unless "0"."""
    return (value or "1").strip() != "0"


def command(main: Path) -> list[str]:
    return [nginx_binary(), "-c", str(main), "-p", str(main.parent), "-e", str(main.parent / "error.log")]


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@contextmanager
def running(run_dir: Path, *, port: int, cert: str, key: str, backend: str, log_path: Path | None = None,
            **orthanc: str) -> Iterator[subprocess.Popen]:
    # orthanc_url / read_grant_seconds / raw_frames: default to this process's settings; orthanc_user /
    # orthanc_password: to the front server's Orthanc user of this process's environment (ORTHANC_FRONT_*)
    """nginx listening on 127.0.0.1:``port`` in front of ``backend`` until the block ends."""
    from django.conf import settings

    user, password = front_credentials(os.environ)
    main = render(run_dir, listen=f"127.0.0.1:{port}", cert=cert, key=key, backend=backend,
                  orthanc_url=orthanc.get("orthanc_url") or settings.ORTHANC_URL,
                  orthanc_user=orthanc.get("orthanc_user") or user,
                  orthanc_password=orthanc.get("orthanc_password") or password,
                  access_log=str(log_path) if log_path else "off",
                  read_grant_seconds=float(orthanc.get("read_grant_seconds") or settings.PACS_READ_GRANT_SECONDS),
                  raw_frames=raw_frames_enabled(orthanc.get("raw_frames") or os.environ.get("MEDCLOUD_RAW_FRAMES")))
    proc = subprocess.Popen(command(main), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)  # noqa: S603
    try:
        deadline = time.monotonic() + 20
        while not _answers(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                log = Path(run_dir) / "error.log"
                raise RuntimeError(f"nginx did not start: {log.read_text()[-2000:] if log.exists() else ''}")
            time.sleep(0.1)
        yield proc
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(env: dict[str, str], log_path: Path, *, cert: str, key: str, venv_bin: Path,
            read_grant_seconds: str | float | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """The stack as `make run` serves it, on free ports, for the tests and the benchmarks: the backend (uvicorn,
    plain HTTP on loopback, environment ``env``, output to ``log_path``) behind nginx (TLS, HTTP/2; frames from
    the Orthanc of ``env``). Yields (HTTPS base URL, the backend process) once the API answers."""
    import httpx

    port, backend_port = _free_port(), _free_port()
    env = {**env, "DJANGO_BEHIND_PROXY": "true", "MEDCLOUD_NUM_PROXIES": "1"}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    # a fresh server, a fresh access log (nginx appends: lines of an earlier run would mix in)
    (log_path.parent / f"{log_path.stem}-front-access.log").write_bytes(b"")
    grant = read_grant_seconds if read_grant_seconds is not None else env.get("MEDCLOUD_READ_GRANT_SECONDS")
    with log_path.open("wb") as log, running(
        log_path.parent / f"{log_path.stem}-front", port=port, cert=cert, key=key,
        backend=f"127.0.0.1:{backend_port}", log_path=log_path.parent / f"{log_path.stem}-front-access.log",
        orthanc_url=env.get("ORTHANC_URL", ""), read_grant_seconds=str(grant) if grant is not None else "",
        raw_frames=env.get("MEDCLOUD_RAW_FRAMES", ""),
    ):
        proc = subprocess.Popen(  # noqa: S603 - our own server
            webserver.backend_command(venv_bin, backend_port),
            env=env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
        )
        base_url = f"https://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"web server exited: {log_path.read_text()[-2000:]}")
                try:  # nginx answers 502 until the backend listens
                    if httpx.get(f"{base_url}/api/schema/", verify=False, timeout=2).status_code == 200:  # noqa: S501
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"web server did not start: {log_path.read_text()[-2000:]}")
                time.sleep(0.2)
            yield base_url, proc
        finally:
            _stop(proc)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser("python -m medcloud.core.frontserver")
    p.add_argument("--run-dir", type=Path, required=True)
    p.add_argument("--listen", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--backend", required=True, help="host:port of the backend (uvicorn)")
    p.add_argument("--access-log", default="/dev/stdout")
    args = p.parse_args(argv)
    user, password = front_credentials(os.environ)
    main_conf = render(args.run_dir, listen=args.listen, cert=args.cert, key=args.key, backend=args.backend,
                       orthanc_url=os.environ["ORTHANC_URL"], orthanc_user=user,
                       orthanc_password=password, access_log=args.access_log,
                       read_grant_seconds=float(os.environ.get("MEDCLOUD_READ_GRANT_SECONDS", "5")),
                       raw_frames=raw_frames_enabled(os.environ.get("MEDCLOUD_RAW_FRAMES")))
    argv_nginx = command(main_conf)
    os.execv(argv_nginx[0], argv_nginx)  # noqa: S606 - our own nginx binary and rendered configuration


if __name__ == "__main__":
    main()
