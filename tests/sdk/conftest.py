"""Fixtures of the SDK tests: no Django, no services; the real MR series from the shared data folder."""

from __future__ import annotations

import os
import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from medcloud.sdk.sandbox import SANDBOX_UID

TEMPLATE = Path(__file__).resolve().parents[2] / "backend" / "medcloud" / "sdk" / "template"
DATA = Path(os.environ.get("MEDCLOUD_DATA_DIR", Path(__file__).resolve().parents[3] / "shared" / "data"))
MR = DATA / "dicom" / "mr_brain_sagittal"

DEFAULT_MAIN = """
from medcloud.sdk import Application, InferTask, InferType, Results


class Seg(InferTask):
    type = InferType.SEGMENTATION
    labels = ("thing",)
    modalities = ("MR",)


class App(Application):
    tasks = [Seg]

    def run(self, series, context):
        return Results()
"""


@pytest.fixture(scope="session")
def mr_full() -> Path:
    if not MR.is_dir():
        pytest.fail(f"the real MR series {MR} is missing (the shared data folder sits beside the repository)")
    return MR


@pytest.fixture(scope="session")
def mr_small(mr_full: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 consecutive slices from the middle of the real 192-slice sagittal MR."""
    dest = tmp_path_factory.mktemp("mr12")
    files = sorted(mr_full.glob("*.dcm"))
    for f in files[90:102]:
        shutil.copy(f, dest / f.name)
    return dest


@pytest.fixture()
def template_dir() -> Path:
    return TEMPLATE


def write_package(
    root: Path,
    main: str = DEFAULT_MAIN,
    toml: str | None = None,
    files: dict[str, bytes | str] | None = None,
    tasks: str = '["Seg"]',
    requirements: str = "[]",
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "main.py").write_text(textwrap.dedent(main))
    if toml is None:
        toml = (
            f'sdk_version = "1"\nname = "test-model"\nversion = "0.1"\ntasks = {tasks}\nrequirements = {requirements}\n'
        )
    (root / "model.toml").write_text(toml)
    for name, data in (files or {}).items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data.encode() if isinstance(data, str) else data)
    return root


@pytest.fixture()
def make_package(tmp_path: Path) -> Callable[..., Path]:
    counter = iter(range(1000))

    def make(main: str = DEFAULT_MAIN, **kw) -> Path:
        return write_package(tmp_path / f"pkg{next(counter)}", main, **kw)

    return make


def sandbox_processes() -> list[str]:
    """Processes still running as the sandbox uid (there must be none after a run)."""
    left = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        uid_line = next((ln for ln in text.splitlines() if ln.startswith("Uid:")), "")
        if str(SANDBOX_UID) in uid_line.split():
            left.append(status.parent.name)
    return left
