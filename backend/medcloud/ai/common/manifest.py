"""The data sets of ``../shared/data``: a folder with a ``manifest.csv`` and the images it lists.

Columns: ``file, mask_file, label, ..., split`` (plus ``patient_id`` or ``dup_group``),
paths relative to the manifest's folder; an empty ``mask_file`` means an empty mask.
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image


@dataclasses.dataclass
class Record:
    image_path: Path
    mask_path: Path | None
    label: str
    split: str
    source_dir: str
    patient: str = ""


def read_manifest(folder: str | Path, splits: Iterable[str] | None = None) -> list[Record]:
    """Rows of ``folder/manifest.csv`` (all rows, or only those whose split is in ``splits``)."""
    folder = Path(folder)
    manifest = folder / "manifest.csv"
    if not manifest.is_file():
        raise FileNotFoundError(f"no manifest.csv in {folder}")
    wanted = set(splits) if splits is not None else None
    out: list[Record] = []
    with manifest.open(newline="") as fh:
        for row in csv.DictReader(fh):
            split = (row.get("split") or "").strip()
            if wanted is not None and split not in wanted:
                continue
            mask = (row.get("mask_file") or "").strip()
            out.append(
                Record(
                    image_path=folder / row["file"].strip(),
                    mask_path=(folder / mask) if mask else None,
                    label=(row.get("label") or "").strip(),
                    split=split,
                    source_dir=folder.name,
                    patient=(row.get("patient_id") or row.get("dup_group") or "").strip(),
                )
            )
    return out


def load_image(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("L"), dtype=np.uint8)


def load_mask(rec: Record, shape: tuple[int, int]) -> np.ndarray:
    """Binary uint8 mask (0/1) at ``shape``; all zero when the record has no mask."""
    if rec.mask_path is None:
        return np.zeros(shape, dtype=np.uint8)
    with Image.open(rec.mask_path) as im:
        m = np.asarray(im.convert("L"), dtype=np.uint8)
    if m.shape != shape:
        m = np.asarray(Image.fromarray(m).resize(shape[::-1], Image.Resampling.NEAREST))
    return (m > 127).astype(np.uint8)
