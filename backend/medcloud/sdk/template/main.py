"""Template model: a thresholding segmentation and a bright/dim classification, written against medcloud.sdk.

Copy this folder, keep the shape (InferTask classes, one Application with run), replace the arithmetic.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from medcloud.sdk import Application, InferTask, InferType, Label, Mask, Measurement, Results


class Foreground(InferTask):
    type = InferType.SEGMENTATION
    labels = ("foreground",)
    modalities = ("MR", "CT")
    description = "Voxels brighter than Otsu's threshold of the normalised series"


class Brightness(InferTask):
    type = InferType.CLASSIFICATION
    labels = ("bright", "dim")
    modalities = ("MR", "CT")
    description = "Whether the foreground is bright or dim on average"


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of values in [0, 1]."""
    hist, edges = np.histogram(values, bins=bins, range=(0.0, 1.0))
    hist = hist.astype(np.float64)
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * centres)
    mu0 = np.divide(m0, w0, out=np.zeros_like(m0), where=w0 > 0)
    mu1 = np.divide(m0[-1] - m0, w1, out=np.zeros_like(m0), where=w1 > 0)
    between = w0 * w1 * (mu0 - mu1) ** 2
    return float(centres[int(np.argmax(between))])


class ThresholdApplication(Application):
    tasks = [Foreground, Brightness]

    def __init__(self) -> None:
        # "weights" sit beside main.py: here, two numbers in a JSON file
        self.params = json.loads((Path(__file__).parent / "params.json").read_text())

    def run(self, series, context):
        context.progress(5, "normalising")
        volume = series.volume
        lo, hi = np.percentile(volume, [self.params["low_percentile"], self.params["high_percentile"]])
        norm = np.clip((volume - lo) / max(float(hi - lo), 1e-6), 0.0, 1.0)
        context.progress(40, "thresholding")
        threshold = otsu_threshold(norm)
        mask = (norm > threshold).astype(np.uint8)
        context.log.info("threshold %.3f, foreground fraction %.3f", threshold, float(mask.mean()))
        context.progress(80, "classifying")
        level = float(norm[mask > 0].mean()) if mask.any() else 0.0
        # distance from the decision level, squashed into a confidence in [0.5, 1)
        p_bright = float(1.0 / (1.0 + np.exp(-(level - self.params["bright_level"]) * 10.0)))
        bright = p_bright >= 0.5
        voxels = int(mask.sum())
        areas = mask.reshape(mask.shape[0], -1).sum(axis=1) * series.pixel_spacing[0] * series.pixel_spacing[1]
        largest = int(np.argmax(areas))
        context.progress(100, "done")
        return Results(
            masks=[Mask(mask, labels=["foreground"])],
            labels=[Label("bright" if bright else "dim", p_bright if bright else 1.0 - p_bright)],
            measurements=[
                Measurement("Foreground volume", voxels * series.voxel_volume_mm3, "mm3"),
                Measurement("Largest foreground area", float(areas[largest]), "mm2", slice_index=largest),
            ],
            summary={"threshold": threshold, "mean_level": level, "foreground_voxels": voxels},
        )
