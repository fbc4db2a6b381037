"""The series a model receives: pydicom datasets sorted spatially, a float32 volume in modality units, geometry."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset


class SeriesError(ValueError):
    """The input is not a usable single-frame series."""


@dataclasses.dataclass(eq=False)
class Series:
    """A series of single-frame slices, sorted along the slice normal (ascending ``dot(ImagePositionPatient, n)``).

    ``volume[k]`` is slice ``k`` (rows x columns) in modality units (Rescale Slope/Intercept applied, MONOCHROME1
    inverted so that bright means high). Geometry is in patient coordinates (mm, LPS).
    """

    datasets: list[Dataset]
    volume: np.ndarray  # float32 (slices, rows, columns)
    pixel_spacing: tuple[float, float]  # (row spacing, column spacing) in mm
    slice_positions: np.ndarray  # (slices, 3) ImagePositionPatient of each sorted slice
    orientation: np.ndarray  # (6,) ImageOrientationPatient: row cosine then column cosine
    spacing_between_slices: float  # mm, from the positions (median step), else the header, else 1
    modality: str

    @property
    def shape(self) -> tuple[int, int, int]:
        return (int(self.volume.shape[0]), int(self.volume.shape[1]), int(self.volume.shape[2]))

    @property
    def normal(self) -> np.ndarray:
        n = np.cross(self.orientation[:3], self.orientation[3:])
        norm = float(np.linalg.norm(n))
        return n / norm if norm else np.array([0.0, 0.0, 1.0])

    @property
    def voxel_volume_mm3(self) -> float:
        return float(self.pixel_spacing[0] * self.pixel_spacing[1] * self.spacing_between_slices)

    @property
    def sop_instance_uids(self) -> list[str]:
        return [str(ds.SOPInstanceUID) for ds in self.datasets]

    @property
    def series_instance_uid(self) -> str:
        return str(self.datasets[0].SeriesInstanceUID)


def slice_pixels(ds: Dataset) -> np.ndarray:
    """Float32 2-D modality values of one single-frame slice (bright = high)."""
    if int(getattr(ds, "NumberOfFrames", 1) or 1) > 1:
        raise SeriesError(f"{ds.SOPInstanceUID}: multi-frame instances are not supported")
    arr = np.asarray(ds.pixel_array)
    if int(getattr(ds, "SamplesPerPixel", 1) or 1) > 1 or arr.ndim == 3:
        photometric = str(getattr(ds, "PhotometricInterpretation", "RGB"))
        if photometric.startswith("YBR"):
            from pydicom.pixels import convert_color_space

            arr = convert_color_space(arr, photometric, "RGB")
        return arr[..., :3].astype(np.float32).mean(axis=-1)
    out = arr.astype(np.float32)
    slope = float(getattr(ds, "RescaleSlope", 1.0) or 1.0)
    intercept = float(getattr(ds, "RescaleIntercept", 0.0) or 0.0)
    out = out * np.float32(slope) + np.float32(intercept)
    if str(getattr(ds, "PhotometricInterpretation", "MONOCHROME2")).upper() == "MONOCHROME1":
        out = out.max() + out.min() - out
    return out


def _floats(value, n: int) -> list[float] | None:
    try:
        vals = [float(v) for v in value]
    except (TypeError, ValueError):
        return None
    return vals if len(vals) == n and all(np.isfinite(vals)) else None


def from_datasets(datasets: Sequence[Dataset]) -> Series:
    """Sort slices spatially (ImagePositionPatient projected on the slice normal) and build the volume."""
    datasets = [ds for ds in datasets if "PixelData" in ds]
    if not datasets:
        raise SeriesError("no image with pixel data in the series")
    uids = {str(getattr(ds, "SeriesInstanceUID", "")) for ds in datasets}
    if len(uids) > 1:
        raise SeriesError(f"the folder holds {len(uids)} series; give one series")
    shapes = {(int(ds.Rows), int(ds.Columns)) for ds in datasets}
    if len(shapes) > 1:
        raise SeriesError(f"slices of different sizes: {sorted(shapes)}")
    iop = _floats(getattr(datasets[0], "ImageOrientationPatient", None), 6) or [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    orientation = np.asarray(iop, dtype=np.float64)
    normal = np.cross(orientation[:3], orientation[3:])
    normal = normal / (np.linalg.norm(normal) or 1.0)
    positions = [_floats(getattr(ds, "ImagePositionPatient", None), 3) for ds in datasets]
    if all(p is not None for p in positions):
        keys = [float(np.dot(p, normal)) for p in positions]  # type: ignore[arg-type]
    else:
        keys = [float(getattr(ds, "InstanceNumber", i) or i) for i, ds in enumerate(datasets)]
    order = sorted(range(len(datasets)), key=lambda i: (keys[i], i))
    sorted_ds = [datasets[i] for i in order]
    thickness = float(
        getattr(sorted_ds[0], "SpacingBetweenSlices", 0) or getattr(sorted_ds[0], "SliceThickness", 0) or 0
    )
    spacing = 0.0
    if len(order) > 1 and all(p is not None for p in positions):
        steps = np.diff(np.array([keys[i] for i in order]))
        steps = steps[steps > 1e-4]
        if steps.size:
            spacing = float(np.median(steps))
    spacing = spacing or abs(thickness) or 1.0
    pos = np.array(
        [positions[i] if positions[i] is not None else list(normal * k * spacing) for k, i in enumerate(order)],
        dtype=np.float64,
    )
    ps = (
        _floats(getattr(sorted_ds[0], "PixelSpacing", None), 2)
        or _floats(getattr(sorted_ds[0], "ImagerPixelSpacing", None), 2)
        or [1.0, 1.0]
    )
    volume = np.stack([slice_pixels(ds) for ds in sorted_ds]).astype(np.float32, copy=False)
    return Series(
        datasets=sorted_ds,
        volume=volume,
        pixel_spacing=(float(ps[0]), float(ps[1])),
        slice_positions=pos,
        orientation=orientation,
        spacing_between_slices=spacing,
        modality=str(getattr(sorted_ds[0], "Modality", "OT")),
    )


def _files(folder: Path) -> Iterable[Path]:
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            yield Path(root) / name


def load_series(folder: str | os.PathLike, max_files: int = 5000) -> Series:
    """Read every DICOM file under ``folder`` (non-DICOM files are skipped) as one series."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SeriesError(f"{folder}: not a folder")
    datasets = []
    for i, path in enumerate(_files(folder)):
        if i >= max_files:
            raise SeriesError(f"{folder}: more than {max_files} files")
        if path.is_symlink() or not path.is_file():
            continue
        try:
            datasets.append(pydicom.dcmread(path))
        except pydicom.errors.InvalidDicomError:
            continue
    if not datasets:
        raise SeriesError(f"{folder}: no DICOM file")
    return from_datasets(datasets)
