"""Paths of the checkout and of the shared data folder.

A tiny module with no Django import: the settings, the PACS tools, the AI code (which must not import
Django) and the tests all take the data folder from here, so that its default has one definition.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

# backend/medcloud/core/paths.py -> the repository root is parents[3]
REPO_ROOT = Path(__file__).resolve().parents[3]


def shared_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The shared data folder (real images and DICOM series): ``$MEDCLOUD_DATA_DIR``, else
    ``<repository>/../shared/data``."""
    value = (os.environ if environ is None else environ).get("MEDCLOUD_DATA_DIR")
    if value:
        return Path(value).expanduser().resolve()
    return (REPO_ROOT.parent / "shared" / "data").resolve()
