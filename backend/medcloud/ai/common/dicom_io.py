"""DICOM input: pixel values and geometry of a series of single-frame slices.

- ``slice_pixels``: stored values -> modality values (Rescale Slope/Intercept),
  MONOCHROME1 inverted so that bright means high signal, RGB to grey; any bit
  depth, signed or unsigned.
- ``SliceGeometry``: ImagePositionPatient, ImageOrientationPatient and
  PixelSpacing of one slice, mapping (row, column) pixel indices to patient
  coordinates (mm, LPS).
- ``sort_series``: slices ordered along the slice normal, and the slice spacing
  from the positions (median step), falling back to SpacingBetweenSlices, then
  SliceThickness, then 1 mm.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from pydicom.dataset import Dataset

# one conversion of a slice to modality values for every model and the SDK (medcloud.sdk is the lower layer)
from medcloud.sdk.series import slice_pixels  # noqa: F401  (re-exported: the models import it from here)


@dataclasses.dataclass
class SliceGeometry:
    position: np.ndarray  # (3,) ImagePositionPatient: centre of the first transmitted pixel
    row_cosine: np.ndarray  # (3,) direction of increasing column index
    col_cosine: np.ndarray  # (3,) direction of increasing row index
    row_spacing: float  # mm between rows (PixelSpacing[0])
    col_spacing: float  # mm between columns (PixelSpacing[1])
    has_position: bool = True
    has_spacing: bool = True

    @property
    def normal(self) -> np.ndarray:
        n = np.cross(self.row_cosine, self.col_cosine)
        norm = np.linalg.norm(n)
        return n / norm if norm else np.array([0.0, 0.0, 1.0])

    @property
    def pixel_area_mm2(self) -> float:
        return self.row_spacing * self.col_spacing

    def to_patient(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Patient coordinates (mm) of pixel centres at (row, column) indices: ``(N, 3)``."""
        rows = np.atleast_1d(np.asarray(rows, dtype=np.float64))
        cols = np.atleast_1d(np.asarray(cols, dtype=np.float64))
        return (
            self.position[None, :]
            + cols[:, None] * self.col_spacing * self.row_cosine[None, :]
            + rows[:, None] * self.row_spacing * self.col_cosine[None, :]
        )


def _floats(value, n: int) -> list[float] | None:
    try:
        vals = [float(v) for v in value]
    except (TypeError, ValueError):
        return None
    return vals if len(vals) == n else None


def slice_geometry(ds: Dataset, index: int = 0) -> SliceGeometry:
    """Geometry of one slice; missing attributes fall back to an axial 1 mm grid (flagged)."""
    iop = _floats(getattr(ds, "ImageOrientationPatient", None), 6) or [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    spacing = _floats(getattr(ds, "PixelSpacing", None), 2) or _floats(getattr(ds, "ImagerPixelSpacing", None), 2)
    has_spacing = spacing is not None
    spacing = spacing or [1.0, 1.0]
    ipp = _floats(getattr(ds, "ImagePositionPatient", None), 3)
    has_position = ipp is not None
    row_c = np.asarray(iop[:3], dtype=np.float64)
    col_c = np.asarray(iop[3:], dtype=np.float64)
    if ipp is None:
        normal = np.cross(row_c, col_c)
        ipp = list(normal * index * float(getattr(ds, "SliceThickness", 1.0) or 1.0))
    return SliceGeometry(
        np.asarray(ipp, dtype=np.float64),
        row_c,
        col_c,
        float(spacing[0]),
        float(spacing[1]),
        has_position=has_position,
        has_spacing=has_spacing,
    )


@dataclasses.dataclass
class SortedSeries:
    datasets: list[Dataset]  # sorted along the normal
    order: list[int]  # index in the input list of each sorted slice
    geometries: list[SliceGeometry]
    slice_spacing: float  # mm
    spacing_source: str  # "positions" | "SpacingBetweenSlices" | "SliceThickness" | "default"


def sort_series(datasets: Sequence[Dataset]) -> SortedSeries:
    if not datasets:
        raise ValueError("empty series")
    geoms = [slice_geometry(ds, i) for i, ds in enumerate(datasets)]
    normal = geoms[0].normal
    if all(g.has_position for g in geoms):
        keys = [float(np.dot(g.position, normal)) for g in geoms]
    else:
        keys = [float(getattr(ds, "InstanceNumber", i) or i) for i, ds in enumerate(datasets)]
    order = sorted(range(len(datasets)), key=lambda i: (keys[i], i))
    sorted_keys = np.array([keys[i] for i in order])
    spacing, source = 0.0, "default"
    if len(order) > 1 and all(g.has_position for g in geoms):
        steps = np.diff(sorted_keys)
        steps = steps[steps > 1e-4]
        if steps.size:
            spacing, source = float(np.median(steps)), "positions"
    if not spacing:
        ref = datasets[order[0]]
        for attr in ("SpacingBetweenSlices", "SliceThickness"):
            v = getattr(ref, attr, None)
            try:
                if v is not None and float(v) > 0:
                    spacing, source = abs(float(v)), attr
                    break
            except (TypeError, ValueError):
                continue
    if not spacing:
        spacing = 1.0
    return SortedSeries([datasets[i] for i in order], order, [geoms[i] for i in order], spacing, source)
