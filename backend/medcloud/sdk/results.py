"""Typed results of a model run, their strict validation and their exchange format (JSON + .npy files).

A model returns :class:`Results`; the platform (never the model) turns them into DICOM. Before that,
:func:`validate_results` checks them against the series and the labels the package declared, and refuses
anything malformed with a :class:`ResultError` that says what is wrong.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medcloud.sdk.api import InferType


class ResultError(ValueError):
    """The results of a model are malformed (shape, dtype, label, range, size)."""


@dataclasses.dataclass(frozen=True)
class ResultLimits:
    max_array_bytes: int = 1 << 30  # all mask + heat-map arrays together
    max_items: int = 10_000  # labels + measurements + boxes
    max_summary_bytes: int = 1 << 20  # summary as JSON
    max_name_length: int = 64


@dataclasses.dataclass
class Mask:
    """A uint8 label volume of the series' shape: 0 = background, k = ``labels[k-1]``."""

    array: np.ndarray
    labels: Sequence[str]


@dataclasses.dataclass
class Label:
    """A class with its confidence in [0, 1], for the series or for one slice."""

    name: str
    confidence: float
    slice_index: int | None = None


@dataclasses.dataclass
class Measurement:
    """A value with its UCUM unit (``mm2``, ``mm3``, ``mm``, ``1``, ``%``, ``[hnsf'U]``...), optionally on a slice."""

    name: str
    value: float
    unit: str
    slice_index: int | None = None


@dataclasses.dataclass
class Box:
    """A box over slices ``slice_start..slice_stop-1``, rows ``row_start..row_stop-1``, columns likewise."""

    label: str
    confidence: float
    slice_start: int
    slice_stop: int
    row_start: int
    row_stop: int
    col_start: int
    col_stop: int


@dataclasses.dataclass
class HeatMap:
    """A float volume in [0, 1] of the series' shape explaining ``label``."""

    array: np.ndarray
    label: str


@dataclasses.dataclass
class Results:
    masks: list[Mask] = dataclasses.field(default_factory=list)
    labels: list[Label] = dataclasses.field(default_factory=list)
    measurements: list[Measurement] = dataclasses.field(default_factory=list)
    boxes: list[Box] = dataclasses.field(default_factory=list)
    heatmaps: list[HeatMap] = dataclasses.field(default_factory=list)
    summary: dict[str, Any] = dataclasses.field(default_factory=dict)


_UCUM = re.compile(r"^[A-Za-z0-9.\[\]{}'/*%^()_+-]{1,32}$")
_KIND_TYPES = {
    "mask": {InferType.SEGMENTATION},
    "label": {InferType.CLASSIFICATION},
    "box": {InferType.DETECTION, InferType.LOCALISATION},
}


def _declared(tasks: Iterable[Any] | None) -> dict[str, set[str]] | None:
    if tasks is None:
        return None
    out: dict[str, set[str]] = {"mask": set(), "label": set(), "box": set(), "any": set()}
    for t in tasks:
        ttype = InferType(t.type)
        labels = {str(x) for x in getattr(t, "labels", ())}
        out["any"] |= labels
        for kind, types in _KIND_TYPES.items():
            if ttype in types:
                out[kind] |= labels
    return out


def _kind_names(kind: str) -> str:
    return "/".join(sorted(t.value for t in _KIND_TYPES.get(kind, set())))


def _check_label(name: Any, kind: str, what: str, declared: dict[str, set[str]] | None, limits: ResultLimits) -> None:
    if not isinstance(name, str) or not name.strip():
        raise ResultError(f"{what}: the label must be a non-empty string, got {name!r}")
    if len(name) > limits.max_name_length:
        raise ResultError(f"{what}: label {name[:20]!r}... is longer than {limits.max_name_length} characters")
    if declared is not None and name not in declared[kind]:
        allowed = sorted(declared[kind])
        raise ResultError(
            f"{what}: label {name!r} is not declared by any {_kind_names(kind)}"
            f" task of the package (declared: {allowed or 'none'})"
            if kind != "any"
            else f"{what}: label {name!r} is not declared by any task of the package (declared: {allowed or 'none'})"
        )


def _check_confidence(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise ResultError(f"{what}: confidence must be a number, got {type(value).__name__}")
    v = float(value)
    if not math.isfinite(v):
        raise ResultError(f"{what}: confidence is {v} (NaN or infinite); it must be a finite number in [0, 1]")
    if not 0.0 <= v <= 1.0:
        raise ResultError(f"{what}: confidence {v} is outside [0, 1]")
    return v


def _check_slice(index: Any, n: int, what: str) -> None:
    if index is None:
        return
    if isinstance(index, bool) or not isinstance(index, int | np.integer):
        raise ResultError(f"{what}: slice_index must be an integer, got {type(index).__name__}")
    if not 0 <= int(index) < n:
        raise ResultError(f"{what}: slice_index {index} is outside the series (0..{n - 1})")


def validate_results(
    results: Any,
    series: Any,
    tasks: Iterable[Any] | None = None,
    limits: ResultLimits | None = None,
) -> Results:
    """Check ``results`` strictly against ``series`` (anything with ``shape``: slices, rows, columns) and the
    tasks' declared labels (objects with ``type`` and ``labels``; ``None`` skips the label check).

    Raises :class:`ResultError` naming the first problem; returns the results unchanged when valid.
    """
    limits = limits or ResultLimits()
    if not isinstance(results, Results):
        raise ResultError(f"run() must return medcloud.sdk.Results, got {type(results).__name__}")
    shape = tuple(int(x) for x in series.shape)
    n = shape[0]
    declared = _declared(tasks)
    for field in ("masks", "labels", "measurements", "boxes", "heatmaps"):
        if not isinstance(getattr(results, field), list):
            raise ResultError(f"Results.{field} must be a list, got {type(getattr(results, field)).__name__}")
    count = len(results.labels) + len(results.measurements) + len(results.boxes)
    if count > limits.max_items:
        raise ResultError(f"{count} labels, measurements and boxes: more than the limit of {limits.max_items}")
    total = 0
    for i, m in enumerate(results.masks):
        what = f"masks[{i}]"
        if not isinstance(m, Mask):
            raise ResultError(f"{what}: expected a Mask, got {type(m).__name__}")
        a = m.array
        if not isinstance(a, np.ndarray):
            raise ResultError(f"{what}: the array must be a numpy array, got {type(a).__name__}")
        if a.dtype != np.uint8:
            raise ResultError(f"{what}: dtype is {a.dtype}; a mask must be uint8 (use array.astype(np.uint8))")
        if a.shape != shape:
            raise ResultError(f"{what}: shape {a.shape} does not match the series shape {shape} (slices, rows, cols)")
        labels = list(m.labels)
        if not labels:
            raise ResultError(f"{what}: a mask needs at least one label name")
        if len(set(labels)) != len(labels):
            raise ResultError(f"{what}: repeated label names {labels}")
        for name in labels:
            _check_label(name, "mask", what, declared, limits)
        top = int(a.max()) if a.size else 0
        if top > len(labels):
            raise ResultError(
                f"{what}: value {top} present but only {len(labels)} label(s) named (values 0..{len(labels)})"
            )
        total += a.nbytes
    for i, h in enumerate(results.heatmaps):
        what = f"heatmaps[{i}]"
        if not isinstance(h, HeatMap):
            raise ResultError(f"{what}: expected a HeatMap, got {type(h).__name__}")
        a = h.array
        if not isinstance(a, np.ndarray) or a.dtype.kind != "f":
            raise ResultError(f"{what}: the array must be a floating-point numpy array")
        if a.shape != shape:
            raise ResultError(f"{what}: shape {a.shape} does not match the series shape {shape} (slices, rows, cols)")
        if not np.isfinite(a).all():
            raise ResultError(f"{what}: the heat-map holds NaN or infinite values")
        if a.size and (float(a.min()) < 0.0 or float(a.max()) > 1.0):
            raise ResultError(f"{what}: values in [{float(a.min())}, {float(a.max())}]; a heat-map must lie in [0, 1]")
        _check_label(h.label, "any", what, declared, limits)
        total += a.size * 4
    if total > limits.max_array_bytes:
        raise ResultError(f"masks and heat-maps take {total} bytes: more than the limit of {limits.max_array_bytes}")
    for i, lab in enumerate(results.labels):
        what = f"labels[{i}]"
        if not isinstance(lab, Label):
            raise ResultError(f"{what}: expected a Label, got {type(lab).__name__}")
        _check_label(lab.name, "label", what, declared, limits)
        _check_confidence(lab.confidence, what)
        _check_slice(lab.slice_index, n, what)
    for i, me in enumerate(results.measurements):
        what = f"measurements[{i}]"
        if not isinstance(me, Measurement):
            raise ResultError(f"{what}: expected a Measurement, got {type(me).__name__}")
        _check_label(me.name, "measurement", what, None, limits)
        if isinstance(me.value, bool) or not isinstance(me.value, int | float | np.floating | np.integer):
            raise ResultError(f"{what}: value must be a number, got {type(me.value).__name__}")
        if not math.isfinite(float(me.value)):
            raise ResultError(f"{what}: value is {float(me.value)} (NaN or infinite)")
        if not isinstance(me.unit, str) or not _UCUM.match(me.unit):
            raise ResultError(f"{what}: unit {me.unit!r} is not a UCUM unit code (e.g. 'mm2', 'mm3', '1', '%')")
        _check_slice(me.slice_index, n, what)
    for i, b in enumerate(results.boxes):
        what = f"boxes[{i}]"
        if not isinstance(b, Box):
            raise ResultError(f"{what}: expected a Box, got {type(b).__name__}")
        _check_label(b.label, "box", what, declared, limits)
        _check_confidence(b.confidence, what)
        for lo, hi, size, axis in (
            (b.slice_start, b.slice_stop, shape[0], "slice"),
            (b.row_start, b.row_stop, shape[1], "row"),
            (b.col_start, b.col_stop, shape[2], "col"),
        ):
            if any(isinstance(v, bool) or not isinstance(v, int | np.integer) for v in (lo, hi)):
                raise ResultError(f"{what}: {axis}_start/{axis}_stop must be integers")
            if not 0 <= int(lo) < int(hi) <= size:
                raise ResultError(f"{what}: {axis} range [{lo}, {hi}) is empty or outside 0..{size}")
    if not isinstance(results.summary, dict):
        raise ResultError(f"summary must be a dict, got {type(results.summary).__name__}")
    try:
        text = json.dumps(results.summary, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ResultError(f"summary is not plain JSON (no NaN, no numpy types): {exc}") from None
    if len(text.encode()) > limits.max_summary_bytes:
        raise ResultError(f"summary takes {len(text.encode())} bytes as JSON: more than {limits.max_summary_bytes}")
    return results


def _num(v: Any) -> float:
    return float(v)


def results_to_json(results: Results, arrays: dict[str, str] | None = None) -> dict[str, Any]:
    """The JSON form of ``results``: every field except the arrays themselves (their shape, labels, voxel
    counts; ``arrays`` maps ``masks[i]``/``heatmaps[i]`` to the file that holds it, when saved)."""
    arrays = arrays or {}
    out: dict[str, Any] = {"masks": [], "heatmaps": []}
    for i, m in enumerate(results.masks):
        counts = np.bincount(m.array.ravel(), minlength=len(m.labels) + 1)
        out["masks"].append(
            {
                "labels": list(m.labels),
                "shape": list(m.array.shape),
                "voxels": {name: int(counts[k + 1]) for k, name in enumerate(m.labels)},
                **({"file": arrays[f"masks[{i}]"]} if f"masks[{i}]" in arrays else {}),
            }
        )
    for i, h in enumerate(results.heatmaps):
        out["heatmaps"].append(
            {
                "label": h.label,
                "shape": list(h.array.shape),
                "max": float(h.array.max()) if h.array.size else 0.0,
                **({"file": arrays[f"heatmaps[{i}]"]} if f"heatmaps[{i}]" in arrays else {}),
            }
        )
    out["labels"] = [
        {
            "name": x.name,
            "confidence": _num(x.confidence),
            "slice_index": None if x.slice_index is None else int(x.slice_index),
        }
        for x in results.labels
    ]
    out["measurements"] = [
        {
            "name": x.name,
            "value": _num(x.value),
            "unit": x.unit,
            "slice_index": None if x.slice_index is None else int(x.slice_index),
        }
        for x in results.measurements
    ]
    out["boxes"] = [
        {
            k: (v if isinstance(v, str) else (float(v) if k == "confidence" else int(v)))
            for k, v in dataclasses.asdict(b).items()
        }
        for b in results.boxes
    ]
    out["summary"] = results.summary
    return out


# --- the exchange format between a sandboxed run and the platform -------------------------------------------

RESULTS_FILE = "results.json"
_ARRAY_NAME = re.compile(r"^(mask|heatmap)_[0-9]{1,4}\.npy$")


def save_results(results: Results, folder: Path) -> Path:
    """Write ``results.json`` and one ``.npy`` per mask / heat-map (plain arrays, no pickles) into ``folder``."""
    folder = Path(folder)
    arrays: dict[str, str] = {}
    for i, m in enumerate(results.masks):
        name = f"mask_{i}.npy"
        np.save(folder / name, np.asarray(m.array), allow_pickle=False)
        arrays[f"masks[{i}]"] = name
    for i, h in enumerate(results.heatmaps):
        name = f"heatmap_{i}.npy"
        np.save(folder / name, np.asarray(h.array), allow_pickle=False)
        arrays[f"heatmaps[{i}]"] = name
    doc = results_to_json(results, arrays)
    path = folder / RESULTS_FILE
    path.write_text(json.dumps(doc, allow_nan=True))
    return path


def _open_regular(path: Path, max_bytes: int) -> bytes:
    """Read a file written by untrusted code: no symlink followed, regular files only, size bounded."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise ResultError(f"{path.name}: cannot be opened safely ({exc.strerror}; symlinks are refused)") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ResultError(f"{path.name}: not a regular file")
        if st.st_size > max_bytes:
            raise ResultError(f"{path.name}: {st.st_size} bytes, more than the limit of {max_bytes}")
        chunks, left = [], max_bytes + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        if len(data) > max_bytes:
            raise ResultError(f"{path.name}: more than {max_bytes} bytes")
        return data
    finally:
        os.close(fd)


def _load_array(folder: Path, name: Any, limits: ResultLimits) -> np.ndarray:
    import io

    if not isinstance(name, str) or not _ARRAY_NAME.match(name):
        raise ResultError(f"results.json names an unexpected array file {name!r}")
    data = _open_regular(folder / name, limits.max_array_bytes + 4096)
    try:
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - any parse failure is the model's fault
        raise ResultError(f"{name}: not a plain .npy array ({exc})") from None
    if not isinstance(arr, np.ndarray):
        raise ResultError(f"{name}: not a plain .npy array")
    return arr


def _items(doc: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = doc.get(key, [])
    if not isinstance(value, list) or not all(isinstance(x, dict) for x in value):
        raise ResultError(f"results.json: {key!r} must be a list of objects")
    return value


def load_results(folder: str | os.PathLike, limits: ResultLimits | None = None) -> Results:
    """Read results written by :func:`save_results` in an untrusted folder (bounded sizes, no symlinks, no
    pickles). The returned object still has to go through :func:`validate_results`."""
    limits = limits or ResultLimits()
    folder = Path(folder)
    raw = _open_regular(folder / RESULTS_FILE, limits.max_summary_bytes + 64 * limits.max_items + (1 << 20))
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise ResultError(f"results.json is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ResultError("results.json must hold an object")
    try:
        res = Results(
            masks=[
                Mask(_load_array(folder, m.get("file"), limits), list(m.get("labels", [])))
                for m in _items(doc, "masks")
            ],
            heatmaps=[
                HeatMap(_load_array(folder, h.get("file"), limits), str(h.get("label") or ""))
                for h in _items(doc, "heatmaps")
            ],
            labels=[Label(x["name"], x["confidence"], x.get("slice_index")) for x in _items(doc, "labels")],
            measurements=[
                Measurement(x["name"], x["value"], x["unit"], x.get("slice_index")) for x in _items(doc, "measurements")
            ],
            boxes=[
                Box(
                    **{
                        k: x[k]
                        for k in (
                            "label",
                            "confidence",
                            "slice_start",
                            "slice_stop",
                            "row_start",
                            "row_stop",
                            "col_start",
                            "col_stop",
                        )
                    }
                )
                for x in _items(doc, "boxes")
            ],
            summary=doc.get("summary", {}),
        )
    except KeyError as exc:
        raise ResultError(f"results.json: a field is missing: {exc}") from None
    return res
