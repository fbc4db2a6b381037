"""The entry point run inside the sandbox: limits, series, privilege drop, the model, results out as files.

    python -m medcloud.sdk._child CONFIG_JSON

Order matters: resource limits first (everything after is bounded), the series read while still allowed to
read it, then (when the sandbox was started by root) the drop to an unprivileged uid with no capabilities, and
only then the model's own code is imported. Results go to ``out/results.json`` + ``.npy`` arrays; a failure to
``out/error.json``; progress to ``out/progress.jsonl``. Nothing here trusts the model.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import signal
import sys
import time
import traceback
from pathlib import Path

EXIT_MODEL_ERROR = 3
EXIT_CPU = 152  # 128 + SIGXCPU


def _write_json(path: Path, doc: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc))
    os.replace(tmp, path)


def apply_limits(cfg: dict) -> None:
    def setl(which: int, soft: int, hard: int | None = None) -> None:
        resource.setrlimit(which, (soft, soft if hard is None else hard))

    cpu = int(cfg["cpu_seconds"])
    setl(resource.RLIMIT_CPU, cpu, cpu + 2)  # SIGXCPU at the soft limit, SIGKILL 2 s later
    setl(resource.RLIMIT_AS, int(cfg["memory_bytes"]))
    setl(resource.RLIMIT_NPROC, int(cfg["max_processes"]))
    setl(resource.RLIMIT_FSIZE, int(cfg["max_file_bytes"]))
    setl(resource.RLIMIT_NOFILE, int(cfg["max_open_files"]))
    setl(resource.RLIMIT_CORE, 0)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized write fails with EFBIG instead of killing


def drop_privileges(uid: int, gid: int) -> None:
    """From sandbox root (full capabilities, no user namespace) to ``uid``/``gid`` with no capability at all."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    pr_capbset_drop = 24
    for cap in range(64):
        if libc.prctl(pr_capbset_drop, cap, 0, 0, 0) != 0:
            break  # EINVAL past the last capability
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    status = Path("/proc/self/status").read_text()
    eff = next(line.split()[1] for line in status.splitlines() if line.startswith("CapEff:"))
    if os.getuid() != uid or os.geteuid() != uid or int(eff, 16) != 0:
        raise SystemExit("sandbox: could not drop privileges")


class _ProgressFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, percent: float, message: str) -> None:
        try:
            with self.path.open("a") as fh:
                fh.write(json.dumps({"percent": percent, "message": message, "t": time.time()}) + "\n")
        except OSError:
            pass


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    cfg = json.loads(argv[0])
    out = Path(cfg["out"])
    apply_limits(cfg)

    def on_xcpu(signum, frame):  # noqa: ARG001
        _write_json(
            out / "error.json", {"type": "CPUTimeLimit", "message": f"CPU-time limit of {cfg['cpu_seconds']} s reached"}
        )
        os._exit(EXIT_CPU)

    signal.signal(signal.SIGXCPU, on_xcpu)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        from medcloud.sdk.api import Context
        from medcloud.sdk.loader import load_application
        from medcloud.sdk.results import save_results
        from medcloud.sdk.series import load_series

        t0 = time.perf_counter()
        series = load_series(cfg["series"])
        t_series = time.perf_counter() - t0
        if cfg.get("drop_uid") is not None:
            drop_privileges(int(cfg["drop_uid"]), int(cfg["drop_gid"]))
        scratch = Path(cfg["scratch"])
        scratch.mkdir(mode=0o700, parents=True, exist_ok=True)
        context = Context(scratch, _ProgressFile(out / "progress.jsonl"), logging.getLogger("medcloud.model"))
        if cfg.get("empty"):
            from medcloud.sdk.results import Results

            results = Results()
        else:
            app = load_application(cfg["package"])
            results = app.run(series, context)
        from medcloud.sdk.results import Results as _R

        if not isinstance(results, _R):
            raise TypeError(f"run() must return medcloud.sdk.Results, got {type(results).__name__}")
        save_results(results, out)
        _write_json(out / "timing.json", {"load_series_s": t_series, "total_s": time.perf_counter() - t0})
        return 0
    except BaseException as exc:  # noqa: BLE001 - report whatever the model did
        if isinstance(exc, SystemExit) and exc.code in (0, None):
            exc = RuntimeError("the model called sys.exit()")
        try:
            _write_json(
                out / "error.json",
                {
                    "type": type(exc).__name__,
                    "errno": getattr(exc, "errno", None),
                    "message": str(exc)[:2000],
                    "traceback": "".join(traceback.format_exception(exc))[-20000:],
                },
            )
        except BaseException:  # noqa: BLE001, S110 - e.g. the file-size limit: the exit code still says it failed
            pass
        return EXIT_MODEL_ERROR


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # no atexit handlers of the model, no waiting for its threads
