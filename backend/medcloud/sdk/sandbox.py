"""Run an untrusted model package in a bubblewrap sandbox.

The child sees: the system's ``/usr`` (read-only), the Python environment (read-only, at ``/opt/python`` and
``/opt/venv``), the SDK's own source (read-only, ``/opt/medcloud-sdk``), the package (``/model``, read-only),
the series (``/series``, read-only), a size-limited private tmpfs (``/tmp``, its scratch folder in it), the
output folder (``/out``, the only host folder it can write), ``/proc`` of its own PID namespace and a minimal
``/dev``. No network (its own network namespace, with only a down loopback), its own PID/IPC/UTS namespaces, a
clean environment. Resource limits (CPU seconds, address space, processes, file size, open files) are set by
the child entry point before anything else; the wall clock is enforced from here (SIGKILL to bwrap, whose
death takes the whole PID namespace with it).

When the platform runs as root, bwrap runs without a user namespace and the child drops to an unprivileged
uid with no capabilities before it imports the model (the kernel does not enforce RLIMIT_NPROC on root, and
``--unshare-all`` as root would map root to root). As any other user, ``--unshare-all`` maps the caller to
``nobody`` in a new user namespace, where RLIMIT_NPROC counts only the sandbox's processes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from medcloud.sdk.results import ResultError, ResultLimits, Results, load_results, validate_results

SANDBOX_UID = int(os.environ.get("MEDCLOUD_SANDBOX_UID", "61000"))
SANDBOX_GID = int(os.environ.get("MEDCLOUD_SANDBOX_GID", "61000"))
SDK_DIR = Path(__file__).resolve().parent
INSIDE_PYTHON = "/opt/python"
INSIDE_VENV = "/opt/venv"
INSIDE_SDK = "/opt/medcloud-sdk"


class SandboxUnavailable(RuntimeError):
    pass


@dataclasses.dataclass(frozen=True)
class SandboxLimits:
    cpu_seconds: int = 120
    wall_seconds: float = 300.0
    memory_bytes: int = 4 << 30  # address space (RLIMIT_AS): numpy and the model's weights included
    max_processes: int = 32  # processes and threads of the sandbox uid
    max_file_bytes: int = 1 << 30  # any single file written
    max_open_files: int = 256
    max_output_bytes: int = 2 << 30  # everything under /out, checked while it runs
    tmpfs_bytes: int = 512 << 20  # the private /tmp (scratch)
    max_log_bytes: int = 256 << 10  # stdout and stderr each, kept for the model's owner
    threads: int = 1  # OMP / OpenBLAS / MKL threads


@dataclasses.dataclass
class SandboxResult:
    ok: bool
    reason: str  # "" when ok, else a short explanation for the user
    returncode: int | None
    stdout: str
    stderr: str
    duration_s: float
    cpu_s: float
    results: Results | None = None
    error: dict[str, Any] | None = None  # what the child reported (type, message, traceback: for the owner)
    progress: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    killed: str | None = None  # "wall", "output" when killed from outside


def bwrap_path() -> str:
    path = shutil.which("bwrap")
    if not path:
        raise SandboxUnavailable("bubblewrap (bwrap) is not installed: apt-get install bubblewrap")
    return path


def _python_layout() -> tuple[Path, Path | None, list[str], str]:
    """(base prefix, venv prefix or None, site-packages paths inside, interpreter inside)."""
    base = Path(sys.base_prefix).resolve()
    venv = Path(sys.prefix).resolve() if sys.prefix != sys.base_prefix else None
    inside: list[str] = []
    for key in ("purelib", "platlib"):
        p = Path(sysconfig.get_paths()[key]).resolve()
        for host, mount in ((venv, INSIDE_VENV), (base, INSIDE_PYTHON)):
            if host is not None and (p == host or host in p.parents):
                q = f"{mount}/{p.relative_to(host).as_posix()}"
                if q not in inside:
                    inside.append(q)
                break
    exe = f"{INSIDE_PYTHON}/bin/python{sys.version_info.major}.{sys.version_info.minor}"
    return base, venv, inside, exe


def _system_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        p = Path("/") / name
        if p.is_symlink():
            args += ["--symlink", os.readlink(p), str(p)]
        elif p.is_dir():
            args += ["--ro-bind", str(p), str(p)]
    args += ["--perms", "0755", "--dir", "/etc"]
    for f in ("/etc/ld.so.cache", "/etc/localtime"):
        if Path(f).exists():
            args += ["--ro-bind", f, f]
    return args


def build_command(
    package_dir: Path, series_dir: Path, out_dir: Path, limits: SandboxLimits, empty: bool = False
) -> list[str]:
    base, venv, site_dirs, exe = _python_layout()
    as_root = os.geteuid() == 0
    cmd = [bwrap_path()]
    if as_root:
        cmd += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
    else:
        cmd += ["--unshare-all", "--uid", "65534", "--gid", "65534", "--disable-userns"]
    cmd += ["--die-with-parent", "--new-session", "--hostname", "medcloud-sandbox", "--clearenv"]
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/tmp",  # noqa: S108 - the sandbox's private tmpfs
        "LANG": "C.UTF-8",
        "PYTHONPATH": ":".join([INSIDE_SDK, *site_dirs]),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
        "MPLCONFIGDIR": "/tmp",  # noqa: S108
        **{k: str(limits.threads) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")},
    }
    if (base / "lib").is_dir() and any((base / "lib").glob("libpython*.so*")):
        env["LD_LIBRARY_PATH"] = f"{INSIDE_PYTHON}/lib"  # the interpreter's RUNPATH names its host prefix
    for k, v in env.items():
        cmd += ["--setenv", k, v]
    cmd += _system_binds()
    cmd += ["--perms", "0755", "--dir", "/opt", "--ro-bind", str(base), INSIDE_PYTHON]
    if venv is not None:
        cmd += ["--ro-bind", str(venv), INSIDE_VENV]
    cmd += [
        "--perms",
        "0755",
        "--dir",
        INSIDE_SDK,
        "--perms",
        "0755",
        "--dir",
        f"{INSIDE_SDK}/medcloud",
        "--ro-bind",
        str(SDK_DIR.parent / "__init__.py"),
        f"{INSIDE_SDK}/medcloud/__init__.py",
        "--ro-bind",
        str(SDK_DIR),
        f"{INSIDE_SDK}/medcloud/sdk",
        "--ro-bind",
        str(package_dir),
        "/model",
        "--ro-bind",
        str(series_dir),
        "/series",
        "--bind",
        str(out_dir),
        "/out",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--perms",
        "1777",
        "--size",
        str(limits.tmpfs_bytes),
        "--tmpfs",
        "/tmp",  # noqa: S108 - inside the sandbox: a private, size-limited tmpfs
        "--chdir",
        "/tmp",  # noqa: S108
    ]
    cfg = {
        "package": "/model",
        "series": "/series",
        "out": "/out",
        "scratch": "/tmp/scratch",  # noqa: S108
        "cpu_seconds": limits.cpu_seconds,
        "memory_bytes": limits.memory_bytes,
        "max_processes": limits.max_processes,
        "max_file_bytes": limits.max_file_bytes,
        "max_open_files": limits.max_open_files,
        "drop_uid": SANDBOX_UID if as_root else None,
        "drop_gid": SANDBOX_GID if as_root else None,
        "empty": empty,
    }
    cmd += [exe, "-s", "-B", "-m", "medcloud.sdk._child", json.dumps(cfg)]
    return cmd


class _Capture(threading.Thread):
    """Reads a pipe to the end, keeping the first ``limit`` bytes."""

    def __init__(self, stream, limit: int) -> None:
        super().__init__(daemon=True)
        self.stream, self.limit = stream, limit
        self.data = bytearray()
        self.dropped = 0

    def run(self) -> None:
        while chunk := self.stream.read(65536):
            room = self.limit - len(self.data)
            if room > 0:
                self.data += chunk[:room]
            self.dropped += max(0, len(chunk) - max(room, 0))

    def text(self) -> str:
        s = self.data.decode("utf-8", "replace")
        return s + (f"\n[... {self.dropped} more bytes not kept]" if self.dropped else "")


def _tree_bytes(root: Path, cap: int) -> int:
    total = 0
    for dirpath, dirs, files in os.walk(root, followlinks=False):
        for name in files + dirs:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
            except OSError:
                continue
            if total > cap:
                return total
    return total


def _read_progress(path: Path) -> list[dict[str, Any]]:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return []
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(1 << 20)
    out = []
    for line in data.splitlines()[-1000:]:
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict):
            out.append({"percent": item.get("percent"), "message": str(item.get("message", ""))[:200]})
    return out


def _reason(rc: int | None, error: dict[str, Any] | None, killed: str | None, limits: SandboxLimits, cpu: float) -> str:
    mib = limits.memory_bytes >> 20
    if killed == "wall":
        return f"wall-clock limit of {limits.wall_seconds:g} s reached: the model was killed"
    if killed == "output":
        return f"the model wrote more than {limits.max_output_bytes >> 20} MiB of output: killed"
    if error:
        etype, errno_ = str(error.get("type", "")), error.get("errno")
        msg = str(error.get("message", ""))[:300]
        if etype == "CPUTimeLimit":
            return f"CPU-time limit of {limits.cpu_seconds} s reached: the model was stopped"
        if etype == "MemoryError":
            return f"memory limit of {mib} MiB reached (MemoryError)"
        if errno_ == 11 or etype == "BlockingIOError" and "fork" in str(error.get("traceback", "")):
            return f"process limit of {limits.max_processes} reached: {etype}: {msg}"
        if errno_ == 27:  # EFBIG
            return f"file-size limit of {limits.max_file_bytes >> 20} MiB reached: {msg}"
        return f"the model failed: {etype}: {msg}"
    if rc is not None and rc >= 128:
        sig = rc - 128
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu >= limits.cpu_seconds - 0.5):
            return f"CPU-time limit of {limits.cpu_seconds} s reached: the model was killed"
        if sig == signal.SIGXFSZ:
            return f"file-size limit of {limits.max_file_bytes >> 20} MiB reached"
        if sig in (signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS):
            return f"the model crashed ({name}); possibly out of memory (limit {mib} MiB)"
        return f"the model was killed by {name}"
    return f"the sandboxed process exited with status {rc} without results"


def run_sandboxed(
    package_dir: str | os.PathLike,
    series_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    limits: SandboxLimits | None = None,
    *,
    series_shape: Sequence[int] | None = None,
    tasks: Iterable[Any] | None = None,
    result_limits: ResultLimits | None = None,
    on_progress: Callable[[float, str], None] | None = None,
    empty: bool = False,
) -> SandboxResult:
    """Run the package on the series in a sandbox; results come back as files in ``out_dir`` and are loaded and
    validated here (``series_shape`` and ``tasks`` default to the series' and the package's declared ones)."""
    limits = limits or SandboxLimits()
    package_dir, series_dir, out_dir = Path(package_dir).resolve(), Path(series_dir).resolve(), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if any(out_dir.iterdir()):
        raise ValueError(f"{out_dir}: the output folder must be empty")
    if os.geteuid() == 0:
        os.chown(out_dir, SANDBOX_UID, SANDBOX_GID)
        os.chmod(out_dir, 0o700)
    cmd = build_command(package_dir, series_dir, out_dir.resolve(), limits, empty=empty)
    t0 = time.monotonic()
    proc = subprocess.Popen(  # noqa: S603 - a fixed command line built above
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    caps = [_Capture(proc.stdout, limits.max_log_bytes), _Capture(proc.stderr, limits.max_log_bytes)]
    for c in caps:
        c.start()
    killed: str | None = None
    rc: int | None = None
    cpu = 0.0
    last_check, seen = 0.0, 0
    try:
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                rc = os.waitstatus_to_exitcode(status)
                rc = 128 - rc if rc < 0 else rc
                cpu = usage.ru_utime + usage.ru_stime
                proc.returncode = rc
                break
            now = time.monotonic()
            if now - t0 > limits.wall_seconds:
                killed = "wall"
            elif now - last_check > 0.25:
                last_check = now
                if _tree_bytes(out_dir, limits.max_output_bytes) > limits.max_output_bytes:
                    killed = "output"
                if on_progress is not None:
                    items = _read_progress(out_dir / "progress.jsonl")
                    for item in items[seen:]:
                        on_progress(float(item["percent"] or 0), item["message"])
                    seen = len(items)
            if killed:
                os.killpg(proc.pid, signal.SIGKILL)  # bwrap dies; --die-with-parent takes its PID namespace down
                continue
            time.sleep(0.01)
    finally:
        if proc.returncode is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
        for c in caps:
            c.join(timeout=5)
        for s in (proc.stdout, proc.stderr):
            if s:
                s.close()
    duration = time.monotonic() - t0
    stdout, stderr = caps[0].text(), caps[1].text()
    error = None
    if (out_dir / "error.json").exists():
        try:
            from medcloud.sdk.results import _open_regular

            error = json.loads(_open_regular(out_dir / "error.json", 64 << 10))
            if not isinstance(error, dict):
                error = {"type": "?", "message": "malformed error report"}
        except (ResultError, ValueError):
            error = {"type": "?", "message": "unreadable error report"}
    progress = _read_progress(out_dir / "progress.jsonl")
    if on_progress is not None:
        for item in progress[seen:]:  # what came after the last poll
            on_progress(float(item["percent"] or 0), item["message"])
    base: dict[str, Any] = dict(
        returncode=rc,
        stdout=stdout,
        stderr=stderr,
        duration_s=duration,
        cpu_s=cpu,
        error=error,
        progress=progress,
        killed=killed,
    )
    if killed or rc != 0 or error:
        return SandboxResult(ok=False, reason=_reason(rc, error, killed, limits, cpu), **base)
    try:
        results = load_results(out_dir, result_limits)
        if not empty:
            if series_shape is None:
                from medcloud.sdk.series import load_series

                series_shape = load_series(series_dir).shape
            if tasks is None:
                from medcloud.sdk.validate import inspect_package

                tasks = inspect_package(package_dir)[0].tasks
            validate_results(results, _Shape(tuple(series_shape)), tasks, result_limits)
    except ResultError as exc:
        return SandboxResult(ok=False, reason=f"invalid results: {exc}", **base)
    return SandboxResult(ok=True, reason="", results=results, **base)


@dataclasses.dataclass(frozen=True)
class _Shape:
    shape: tuple[int, ...]


def scratch_out_dir(prefix: str = "medcloud-sandbox-") -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))
