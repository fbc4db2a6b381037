"""Y-Net inference on a DICOM series: the library function the platform calls.

    result = infer_series(datasets)                 # list of pydicom Datasets, any order
    outputs = build_dicom_outputs(result)            # SEG, SR, Grad-CAM secondary captures
    summary = result.to_json()                       # plain JSON summary

Pipeline (MONAI-Label style): pre-transforms (modality values, per-slice
percentile normalisation, pad to square, resize), inferer (Y-Net, horizontal
flip TTA), post-transforms (mask probabilities back to each slice's own
resolution, 0.5 threshold, masks kept only on slices classified as tumour),
then measurements in physical units from the DICOM geometry.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from medcloud.ai.common.dicom_io import SortedSeries, sort_series
from medcloud.ai.ynet import explain
from medcloud.ai.ynet.config import CLASSES, NO_TUMOUR

_PREDICTOR = None


def get_predictor():
    """A process-wide predictor (loaded once per worker) with the committed weights, or with the file
    that ``$MEDCLOUD_YNET_WEIGHTS`` names (read here, when the worker first needs the model)."""
    global _PREDICTOR
    if _PREDICTOR is None:
        from medcloud.ai.runtime import AIRuntime
        from medcloud.ai.ynet.predictor import YNetPredictor

        _PREDICTOR = YNetPredictor.from_file(AIRuntime.from_environ().weights_for("ynet"))
    return _PREDICTOR


def get_gradcam(predictor=None):
    """A process-wide Grad-CAM of the predictor's network (explain.get_gradcam), the worker's predictor by
    default."""
    return explain.get_gradcam(predictor or get_predictor())


def gradcam_maps(result: SeriesResult, predictor=None, class_name: str | None = None) -> list[np.ndarray]:
    """Grad-CAM heat-maps of a series result (explain.gradcam_maps), the worker's predictor by default."""
    return explain.gradcam_maps(result, predictor or get_predictor(), class_name)


@dataclasses.dataclass
class SliceResult:
    index: int  # position in the sorted series
    input_index: int  # position in the list passed in
    sop_instance_uid: str
    probabilities: dict[str, float]
    predicted_class: str
    mask: np.ndarray  # bool (rows, cols), gated by the slice's class
    area_px: int
    area_mm2: float
    bbox: list[int] | None  # [row_min, col_min, row_max, col_max], inclusive
    thickness_mm: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "input_index": self.input_index,
            "sop_instance_uid": self.sop_instance_uid,
            "probabilities": {k: round(v, 5) for k, v in self.probabilities.items()},
            "predicted_class": self.predicted_class,
            "tumour_area_px": self.area_px,
            "tumour_area_mm2": round(self.area_mm2, 3),
            "bbox_px": self.bbox,
        }


@dataclasses.dataclass
class SeriesResult:
    series: SortedSeries
    slices: list[SliceResult]
    class_names: list[str]
    tumour: bool
    tumour_type: str | None
    confidence: float
    bbox: dict[str, Any] | None
    centroid_mm: list[float] | None
    volume_mm3: float
    model_inputs: np.ndarray  # (N, S, S, 1) the preprocessed slices (for Grad-CAM)

    @property
    def masks(self) -> np.ndarray:
        return np.stack([s.mask for s in self.slices])

    def summary(self) -> dict[str, Any]:
        positive = [s.index for s in self.slices if s.area_px > 0]
        return {
            "model": "ynet",
            "series_instance_uid": str(getattr(self.series.datasets[0], "SeriesInstanceUID", "")),
            "n_slices": len(self.slices),
            "decision": {
                "tumour": self.tumour,
                "tumour_type": self.tumour_type,
                "label": self.tumour_type if self.tumour else NO_TUMOUR,
                "confidence": round(self.confidence, 5),
            },
            "localisation": {"bbox_px": self.bbox, "centroid_patient_mm": self.centroid_mm},
            "measurements": {
                "volume_mm3": round(self.volume_mm3, 3),
                "max_area_mm2": round(max((s.area_mm2 for s in self.slices), default=0.0), 3),
                "slice_spacing_mm": round(self.series.slice_spacing, 5),
                "slice_spacing_source": self.series.spacing_source,
                "pixel_spacing_mm": [self.series.geometries[0].row_spacing, self.series.geometries[0].col_spacing],
                "pixel_spacing_from_dicom": all(g.has_spacing for g in self.series.geometries),
            },
            "tumour_slices": positive,
            "slices": [s.to_dict() for s in self.slices],
        }

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.summary(), **kwargs)


def slice_thicknesses(series: SortedSeries) -> np.ndarray:
    """Thickness represented by each slice: half the distance to each neighbour along the normal.

    Equal to the slice spacing for an evenly spaced series; handles uneven spacing.
    """
    n = len(series.datasets)
    if n == 1 or series.spacing_source != "positions":
        return np.full(n, series.slice_spacing)
    normal = series.geometries[0].normal
    k = np.array([float(np.dot(g.position, normal)) for g in series.geometries])
    d = np.diff(k)
    t = np.empty(n)
    t[0], t[-1] = d[0], d[-1]
    t[1:-1] = (d[:-1] + d[1:]) / 2.0
    t = np.where(t > 1e-4, t, series.slice_spacing)
    return t


def infer_series(
    datasets: Sequence[Dataset], predictor=None, min_tumour_slices: int = 1, min_area_px: int = 10
) -> SeriesResult:
    """Run the Y-Net on a series and measure what it finds.

    A slice is positive when its most likely class is a tumour class and its
    mask has at least ``min_area_px`` pixels; the series is positive when at
    least ``min_tumour_slices`` slices are. The tumour type is the class with
    the highest mean probability over the positive slices (weighted by tumour
    area), the confidence that mean probability; for a negative series the
    confidence is the mean no-tumour probability over all slices.
    """
    from medcloud.ai.common.preprocessing import probs_to_size, to_model_input
    from medcloud.ai.ynet.preprocessing import dicom_slices01

    predictor = predictor or get_predictor()
    series = sort_series(list(datasets))
    pixels = dicom_slices01(series.datasets)
    x = to_model_input(pixels, predictor.image_size, normalized=True)
    probs, mprobs = predictor.predict_images(pixels)
    names = list(predictor.class_names)
    no_idx = names.index(NO_TUMOUR) if NO_TUMOUR in names else None
    thick = slice_thicknesses(series)

    slices: list[SliceResult] = []
    for i, (ds, geom) in enumerate(zip(series.datasets, series.geometries, strict=False)):
        p = probs[i]
        k, mask = predictor.decide(p, probs_to_size(mprobs[i], pixels[i].shape))
        cls = names[k]
        if cls == NO_TUMOUR or int(mask.sum()) < min_area_px:
            mask = np.zeros_like(mask)
        area = int(mask.sum())
        bbox = None
        if area:
            rr, cc = np.nonzero(mask)
            bbox = [int(rr.min()), int(cc.min()), int(rr.max()), int(cc.max())]
        slices.append(
            SliceResult(
                index=i,
                input_index=series.order[i],
                sop_instance_uid=str(getattr(ds, "SOPInstanceUID", "")),
                probabilities={n: float(v) for n, v in zip(names, p, strict=False)},
                predicted_class=cls,
                mask=mask,
                area_px=area,
                area_mm2=area * geom.pixel_area_mm2,
                bbox=bbox,
                thickness_mm=float(thick[i]),
            )
        )

    positive = [s for s in slices if s.area_px > 0]
    tumour = len(positive) >= min_tumour_slices
    tumour_type, bbox, centroid, volume = None, None, None, 0.0
    if tumour:
        w = np.array([s.area_px for s in positive], dtype=np.float64)
        tum_names = [n for n in names if n != NO_TUMOUR]
        mean_p = {n: float(np.average([s.probabilities[n] for s in positive], weights=w)) for n in tum_names}
        tumour_type = max(mean_p, key=mean_p.get)
        confidence = mean_p[tumour_type]
        boxes = np.array([s.bbox for s in positive])
        bbox = {
            "row_min": int(boxes[:, 0].min()),
            "col_min": int(boxes[:, 1].min()),
            "row_max": int(boxes[:, 2].max()),
            "col_max": int(boxes[:, 3].max()),
            "slice_min": int(min(s.index for s in positive)),
            "slice_max": int(max(s.index for s in positive)),
        }
        # centroid: mean patient position of all tumour voxels, each weighted by its voxel volume
        acc, tot = np.zeros(3), 0.0
        for s in positive:
            g = series.geometries[s.index]
            rr, cc = np.nonzero(s.mask)
            vox = g.pixel_area_mm2 * s.thickness_mm
            pts = g.to_patient(np.array([rr.mean()]), np.array([cc.mean()]))[0]
            acc += pts * len(rr) * vox
            tot += len(rr) * vox
        centroid = [round(float(v), 4) for v in acc / tot]
        volume = float(sum(s.area_mm2 * s.thickness_mm for s in positive))
    else:
        confidence = float(np.mean(probs[:, no_idx])) if no_idx is not None else float("nan")
    return SeriesResult(series, slices, names, tumour, tumour_type, float(confidence), bbox, centroid, volume, x)


def run(datasets: Sequence[Dataset], predictor=None, with_gradcam: bool = True) -> dict[str, Any]:
    """Everything at once: ``{"result", "summary", "seg", "sr", "heatmaps"}``."""
    from medcloud.ai.ynet.dicom_outputs import build_dicom_outputs

    result = infer_series(datasets, predictor)
    outputs = build_dicom_outputs(result, predictor or get_predictor(), with_gradcam=with_gradcam)
    return {"result": result, "summary": result.summary(), **outputs}


__all__ = [
    "CLASSES",
    "SeriesResult",
    "SliceResult",
    "get_gradcam",
    "get_predictor",
    "gradcam_maps",
    "infer_series",
    "run",
]
