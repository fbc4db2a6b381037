"""The researchers' script in docs/ai-platform.md, run exactly as written (extracted from the page) against the
real stack: a personal API token, a study upload, a model package upload, a job on a real worker, the SEG
fetched through DICOMweb."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.inference.test_jobs import TEMPLATE, api_token

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]
DOC = Path(__file__).resolve().parents[2] / "docs" / "ai-platform.md"


def test_the_documented_script_runs_as_written(live_https, live_worker, make_user, series_factory, tmp_path):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) == 1, "the page holds one script"
    script = tmp_path / "example.py"
    script.write_text(blocks[0])
    series = series_factory(count=12)
    package = tmp_path / "package"
    shutil.copytree(TEMPLATE, package, ignore=shutil.ignore_patterns("__pycache__"))
    token = api_token(make_user("researcher"))["Authorization"].split()[1]
    env = {**os.environ, "MEDCLOUD_URL": live_https, "MEDCLOUD_TOKEN": token, "SERIES_DIR": str(series.dir),
           "PACKAGE_DIR": str(package)}
    run = subprocess.run([sys.executable, str(script)], env=env, cwd=tmp_path, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "succeeded" in run.stdout and "SEG " in run.stdout
    assert (tmp_path / "seg.dcm").stat().st_size > 1000
