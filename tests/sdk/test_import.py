"""medcloud.sdk is importable without Django or TensorFlow (the web process and the sandbox rely on it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BACKEND = Path(__file__).resolve().parents[2] / "backend"


def test_import_pulls_in_neither_django_nor_tensorflow():
    code = (
        "import sys, json, medcloud.sdk, medcloud.sdk.validate, medcloud.sdk.sandbox, medcloud.sdk.runner;"
        "heavy = ('django', 'tensorflow', 'keras', 'highdicom');"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in heavy)))"
    )
    env = {**os.environ, "PYTHONPATH": str(BACKEND)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True, timeout=120)
    heavy = json.loads(out.stdout.strip().splitlines()[-1])
    assert heavy == [], (
        f"importing medcloud.sdk imported {heavy}: the SDK must stay free of Django/TensorFlow (highdicom lazily)"
    )
