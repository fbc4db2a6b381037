"""The local runner: validate a package, run it on a series (in-process or sandboxed), write what the platform
would write (DICOM SEG / SR / secondary captures and ``results.json``)."""

from __future__ import annotations

import getpass
import logging
import os
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from medcloud.sdk.api import Context
from medcloud.sdk.outputs import Provenance, write_outputs
from medcloud.sdk.results import ResultLimits, validate_results
from medcloud.sdk.series import load_series
from medcloud.sdk.validate import PackageError, extract_package, inspect_package, package_sha256


class RunError(RuntimeError):
    """The run failed; ``detail`` holds what the model's owner may see (its output, the traceback)."""

    def __init__(self, message: str, detail: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.detail = detail or {}


def default_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


def run_package(
    package: str | os.PathLike,
    series_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    sandbox: bool = False,
    limits: Any = None,
    ran_by: str | None = None,
    result_limits: ResultLimits | None = None,
    on_progress: Callable[[float, str], None] | None = None,
    bundled: bool = False,
) -> dict[str, Any]:
    """Validate ``package`` (folder or zip), run it on the series in ``series_dir``, validate the results and write
    the DICOM outputs and ``results.json`` into ``out_dir``. Returns the ``results.json`` document.

    ``bundled=True``: a package shipped with the platform (a folder under ``medcloud/ai/``, or the platform's
    zip of one), validated as such (it may import ``medcloud.ai``); see
    :func:`medcloud.sdk.validate.inspect_package`."""
    package = Path(package)
    out_dir = Path(out_dir)
    info, problems = inspect_package(package, bundled=bundled)
    if problems:
        raise PackageError(problems)
    sha = package_sha256(package)
    with tempfile.TemporaryDirectory(prefix="medcloud-run-") as tmp:
        pkg_dir = package
        if package.is_file() and zipfile.is_zipfile(package):
            pkg_dir = extract_package(package, Path(tmp) / "package")
        series = load_series(series_dir)
        accepted = [
            t for t in info.tasks if not t.modalities or series.modality.upper() in {m.upper() for m in t.modalities}
        ]
        if not accepted:
            raise RunError(f"no task of the model accepts modality {series.modality}")
        t0 = time.perf_counter()
        detail: dict[str, Any] = {}
        if sandbox:
            from medcloud.sdk.sandbox import SandboxLimits, run_sandboxed

            res = run_sandboxed(
                pkg_dir,
                series_dir,
                Path(tmp) / "out",
                limits or SandboxLimits(),
                series_shape=series.shape,
                tasks=info.tasks,
                result_limits=result_limits,
                on_progress=on_progress,
            )
            detail = {"stdout": res.stdout, "stderr": res.stderr, "error": res.error, "duration_s": res.duration_s}
            if not res.ok or res.results is None:
                raise RunError(res.reason, detail)
            results = res.results
        else:
            from medcloud.sdk.loader import load_application

            scratch = Path(tmp) / "scratch"
            scratch.mkdir()
            app = load_application(pkg_dir)
            context = Context(scratch, on_progress, logging.getLogger("medcloud.model"))
            results = app.run(series, context)
        run_s = time.perf_counter() - t0
        validate_results(results, series, info.tasks, result_limits)
        manifest = info.manifest
        assert manifest is not None
        provenance = Provenance(manifest.name, manifest.version, sha, ran_by or default_user())
        doc = write_outputs(
            out_dir, series, results, provenance, extra={"run_s": round(run_s, 3), "sandboxed": sandbox}
        )
        if detail.get("stderr") or detail.get("stdout"):
            (out_dir / "model.log").write_text(detail.get("stdout", "") + detail.get("stderr", ""))
        shutil.rmtree(Path(tmp) / "scratch", ignore_errors=True)
        return doc
