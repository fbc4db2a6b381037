"""``model.toml``: what a package says about itself.

sdk_version = "1"
name = "threshold-template"
version = "1.0.0"
description = "..."          # optional
tasks = ["Foreground", "Brightness"]   # the InferTask classes of main.py
requirements = ["numpy"]     # Python distributions it imports; must already be installed on the platform
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import re
import tomllib
from typing import Any

SUPPORTED_SDK_VERSIONS = ("1",)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+_-]{0,31}$")
_DIST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")
# installed on the platform, but the platform's own business: a model has no reason to import them
DENIED_REQUIREMENTS = frozenset(
    {
        "medcloud",
        "django",
        "djangorestframework",
        "celery",
        "kombu",
        "redis",
        "psycopg2",
        "psycopg2-binary",
        "pip",
        "setuptools",
        "djoser",
        "cryptography",
        "httpx",
        "requests",
        "urllib3",
    }
)


class ManifestError(ValueError):
    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(message)
        self.line = line


@dataclasses.dataclass(frozen=True)
class Manifest:
    sdk_version: str
    name: str
    version: str
    tasks: tuple[str, ...]
    requirements: tuple[str, ...]
    description: str = ""


def normalize(dist: str) -> str:
    return re.sub(r"[-_.]+", "-", dist).lower()


def _line_of(text: str, key: str) -> int:
    for i, line in enumerate(text.splitlines(), 1):
        if re.match(rf"^\s*{re.escape(key)}\s*=", line):
            return i
    return 0


def parse_manifest(text: str) -> tuple[Manifest | None, list[tuple[int, str]]]:
    """Parse ``model.toml``; returns the manifest (or None) and the problems as (line, message)."""
    problems: list[tuple[int, str]] = []
    try:
        doc: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        return None, [(int(m.group(1)) if m else 0, f"not valid TOML: {exc}")]

    def get_str(key: str, pattern: re.Pattern[str] | None, required: bool = True) -> str:
        value = doc.get(key)
        if value is None:
            if required:
                problems.append((0, f"{key!r} is missing"))
            return ""
        if not isinstance(value, str) or (pattern is not None and not pattern.match(value)):
            problems.append(
                (_line_of(text, key), f"{key!r} must be a string matching {pattern.pattern if pattern else 'text'}")
            )
            return ""
        return value

    sdk_version = get_str("sdk_version", None)
    if sdk_version and sdk_version not in SUPPORTED_SDK_VERSIONS:
        problems.append(
            (
                _line_of(text, "sdk_version"),
                f"sdk_version {sdk_version!r} is not supported (supported: {', '.join(SUPPORTED_SDK_VERSIONS)})",
            )
        )
    name = get_str("name", _NAME)
    version = get_str("version", _VERSION)
    description = get_str("description", None, required=False)
    lists: dict[str, tuple[str, ...]] = {}
    for key in ("tasks", "requirements"):
        value = doc.get(key, [] if key == "requirements" else None)
        if value is None:
            problems.append((0, f"{key!r} is missing (a list of strings)"))
            value = []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            problems.append((_line_of(text, key), f"{key!r} must be a list of strings"))
            value = []
        lists[key] = tuple(value)
    if "tasks" in doc and not lists["tasks"]:
        problems.append((_line_of(text, "tasks"), "'tasks' is empty: name the InferTask classes of main.py"))
    unknown = sorted(set(doc) - {"sdk_version", "name", "version", "description", "tasks", "requirements"})
    for key in unknown:
        problems.append((_line_of(text, key), f"unknown key {key!r}"))
    manifest = Manifest(sdk_version, name, version, lists["tasks"], lists["requirements"], description)
    return manifest, problems


def check_requirement(dist: str) -> str | None:
    """None when ``dist`` may be named, else why not."""
    if not _DIST.match(dist):
        return (
            f"requirement {dist!r}: give a distribution name only (no version, extras, URL or path);"
            " the platform's environment fixes the versions"
        )
    if normalize(dist) in DENIED_REQUIREMENTS:
        return f"requirement {dist!r} is part of the platform itself and may not be used by a model"
    try:
        importlib.metadata.distribution(dist)
    except importlib.metadata.PackageNotFoundError:
        return (
            f"requirement {dist!r} is not installed in the platform's environment; models can only use packages"
            " that are already installed (nothing is installed for a model)"
        )
    return None


def installed_modules() -> dict[str, set[str]]:
    """Top-level import name -> normalised distribution names that provide it."""
    out: dict[str, set[str]] = {}
    for module, dists in importlib.metadata.packages_distributions().items():
        out.setdefault(module, set()).update(normalize(d) for d in dists)
    return out
