#!/usr/bin/env python3
"""Render orthanc/orthanc.json.template into an Orthanc configuration file.

Stdlib only: it runs before the project's virtual environment exists (and in the Orthanc container).
Values come from the environment (the .env that `make run` writes, or the container's variables).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from string import Template
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
PLUGIN_NAMES = ("libOrthancDicomWeb.so", "libOrthancPostgreSQLIndex.so", "libOrthancPython.so")
PLUGIN_DIRS = ("/usr/share/orthanc/plugins", "/usr/local/share/orthanc/plugins", "/usr/share/orthanc/plugins-available")


def database_settings() -> dict[str, str]:
    # Server and database name from the backend's URL; the credentials are Orthanc's own role (ORTHANC_DB_USER,
    # ORTHANC_DB_PASSWORD), which owns only Orthanc's database: never the backend's (database owner's) ones.
    url = urlparse(os.environ["MEDCLOUD_EFFECTIVE_DATABASE_URL"])
    django_db = url.path.lstrip("/") or "medcloud"
    password = os.environ.get("ORTHANC_DB_PASSWORD", "")
    if not password:
        sys.exit("ORTHANC_DB_PASSWORD is empty: run scripts/ensure_env.py")
    return {
        "ORTHANC_PG_HOST": url.hostname or "127.0.0.1",
        "ORTHANC_PG_PORT": str(url.port or 5432),
        "ORTHANC_PG_DATABASE": os.environ.get("ORTHANC_DATABASE_NAME") or f"{django_db}_orthanc",
        "ORTHANC_PG_USER": os.environ.get("ORTHANC_DB_USER") or "orthanc",
        "ORTHANC_PG_PASSWORD": password,
    }


def plugin_paths() -> list[str]:
    plugin_dir = os.environ.get("ORTHANC_PLUGIN_DIR")
    dirs = [plugin_dir] if plugin_dir else list(PLUGIN_DIRS)
    found = []
    for name in PLUGIN_NAMES:
        path = next((str(Path(d) / name) for d in dirs if (Path(d) / name).exists()), None)
        if path is None:
            sys.exit(f"Orthanc plugin {name} not found in {dirs}: install orthanc-dicomweb, "
                     "orthanc-postgresql and orthanc-python")
        found.append(path)
    return found


def main() -> None:
    out = Path(sys.argv[1])
    values = {
        "ORTHANC_STORAGE_DIR": os.environ["ORTHANC_STORAGE_DIR"],
        "ORTHANC_HTTP_PORT": str(urlparse(os.environ["ORTHANC_URL"]).port or 8042),
        "ORTHANC_DICOM_PORT": os.environ.get("ORTHANC_DICOM_PORT", "54242"),
        "ORTHANC_USERNAME": os.environ["ORTHANC_USERNAME"],
        "ORTHANC_PASSWORD": os.environ["ORTHANC_PASSWORD"],
        # the front server's user: GET of frames and bulk data only (the plugin's request filter)
        "ORTHANC_FRONT_USERNAME": os.environ.get("ORTHANC_FRONT_USERNAME") or "medcloud-front",
        "ORTHANC_FRONT_PASSWORD": os.environ["ORTHANC_FRONT_PASSWORD"],
        "ORTHANC_PYTHON_SCRIPT": os.environ.get(
            "ORTHANC_PYTHON_SCRIPT", str(ROOT / "orthanc" / "plugins" / "medcloud_plugin.py")
        ),
        "ORTHANC_REMOTE_ACCESS_ALLOWED": "true" if os.environ.get("ORTHANC_REMOTE_ACCESS_ALLOWED") == "true" else "false",
        "ORTHANC_PLUGINS": ", ".join(json.dumps(p) for p in plugin_paths()),
        **database_settings(),
    }
    # JSON-escape every string value (a password may hold quotes or backslashes).
    escaped = {k: (v if k in ("ORTHANC_PLUGINS", "ORTHANC_REMOTE_ACCESS_ALLOWED") or v.isdigit() else json.dumps(v)[1:-1]) for k, v in values.items()}
    text = Template((ROOT / "orthanc" / "orthanc.json.template").read_text()).substitute(escaped)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    out.chmod(0o600)


if __name__ == "__main__":
    main()
