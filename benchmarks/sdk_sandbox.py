"""Start-up cost of the model sandbox: bwrap + Python start + the SDK's imports + reading the series, for an
empty model (median of 5 runs), next to the same child started without the sandbox.

    PYTHONPATH=backend .venv/bin/python -m benchmarks.sdk_sandbox [SERIES_DIR]
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from medcloud.sdk.sandbox import SandboxLimits, build_command, run_sandboxed

ROOT = Path(__file__).resolve().parents[1]
EMPTY_MAIN = """
from medcloud.sdk import Application, InferTask, InferType, Results


class Nothing(InferTask):
    type = InferType.PROCESSING


class Empty(Application):
    tasks = [Nothing]

    def run(self, series, context):
        return Results()
"""


def main() -> None:
    series = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data" / "dicom" / "mr_brain_sagittal"
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        one = tmp_path / "one-slice"
        one.mkdir()
        shutil.copy(sorted(series.glob("*.dcm"))[0], one)
        pkg = tmp_path / "pkg"
        pkg.mkdir()
        (pkg / "main.py").write_text(EMPTY_MAIN)
        (pkg / "model.toml").write_text('sdk_version = "1"\nname = "empty"\nversion = "0"\ntasks = ["Nothing"]\n')
        sandboxed = []
        for i in range(5):
            res = run_sandboxed(pkg, one, tmp_path / f"out{i}", SandboxLimits())
            assert res.ok, res.reason + res.stderr
            sandboxed.append(res.duration_s)
        bare = []
        for i in range(5):
            out = tmp_path / f"bare{i}"
            out.mkdir()
            cfg = {
                "package": str(pkg),
                "series": str(one),
                "out": str(out),
                "scratch": str(out / "scratch"),
                "cpu_seconds": 60,
                "memory_bytes": 4 << 30,
                "max_processes": 4096,
                "max_file_bytes": 1 << 30,
                "max_open_files": 256,
                "drop_uid": None,
            }
            t0 = time.monotonic()
            subprocess.run(  # noqa: S603
                [sys.executable, "-s", "-B", "-m", "medcloud.sdk._child", json.dumps(cfg)],
                check=True,
                env={**os.environ, "PYTHONPATH": str(ROOT / "backend")},
            )
            bare.append(time.monotonic() - t0)
        # bwrap itself: the same sandbox running a bare interpreter (python -c pass), against python -c pass
        cmd = build_command(pkg, one, tmp_path / "out0", SandboxLimits())
        exe = cmd.index("-m") - 3  # [..., interpreter, "-s", "-B", "-m", ...]
        cmd = cmd[: exe + 1] + ["-c", "pass"]
        wrapped, plain = [], []
        for _ in range(5):
            t0 = time.monotonic()
            subprocess.run(cmd, check=True)  # noqa: S603
            wrapped.append(time.monotonic() - t0)
            t0 = time.monotonic()
            subprocess.run([sys.executable, "-s", "-c", "pass"], check=True)
            plain.append(time.monotonic() - t0)
    s, b = statistics.median(sandboxed), statistics.median(bare)
    w, p = statistics.median(wrapped), statistics.median(plain)
    print(
        f"bwrap + python -c pass: median {w * 1000:.0f} ms; python -c pass alone: {p * 1000:.0f} ms"
        f" -> bwrap and its mounts: {(w - p) * 1000:.0f} ms"
    )
    print(
        f"sandboxed empty model, 1 slice: median {s * 1000:.0f} ms"
        f" (runs: {', '.join(f'{x * 1000:.0f}' for x in sandboxed)})"
    )
    print(f"same child without the sandbox: median {b * 1000:.0f} ms (python start + SDK imports: numpy, pydicom)")
    print(f"sandbox start-up cost (bwrap, namespaces, limits, privilege drop): {(s - b) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
