"""DICOM JSON in and out (orjson: the metadata of a large study is parsed object by object on every view)."""

from __future__ import annotations

import json
from typing import Any

import orjson

STUDY_UID_TAG = "0020000D"
SERIES_UID_TAG = "0020000E"


def loads(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:  # what orjson refuses (integers beyond 64 bits), the standard parser takes
        return json.loads(raw)


def dumps(obj: Any) -> bytes:
    try:
        return orjson.dumps(obj)
    except TypeError:
        return json.dumps(obj, separators=(",", ":")).encode()


def first(obj: dict[str, Any], tag: str) -> Any:
    """The first value of `tag` in one DICOM JSON dataset, else None."""
    values = obj.get(tag, {}).get("Value") or [None]
    return values[0]
