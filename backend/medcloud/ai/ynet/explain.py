"""Grad-CAM explanations of the Y-Net's classifications: a process-wide Grad-CAM per network (built and traced
once, then kept warm by the worker) and the heat-maps of a series result, one per slice at the slice's own size.
Imports nothing of the Y-Net's inference (inference and dicom_outputs both use this module)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from medcloud.ai.ynet.inference import SeriesResult

_GRADCAMS: dict[int, Any] = {}


def get_gradcam(predictor):
    """A process-wide Grad-CAM of the predictor's network (built and traced once per model, then kept warm)."""
    from medcloud.ai.common.gradcam import GradCAM

    model = predictor.model
    cam = _GRADCAMS.get(id(model))
    if cam is None or cam.model is not model:
        cam = _GRADCAMS[id(model)] = GradCAM(model)  # the Y-Net names its Grad-CAM layer (the bottleneck)
    return cam


def gradcam_maps(result: SeriesResult, predictor, class_name: str | None = None) -> list[np.ndarray]:
    """Grad-CAM heat-maps of a series result, one float32 map in [0, 1] per sorted slice at the slice's own
    resolution, explaining ``class_name`` on every slice (default: each slice's predicted class)."""
    from medcloud.ai.common.preprocessing import probs_to_size

    if class_name is None:
        class_idx = np.array([result.class_names.index(s.predicted_class) for s in result.slices])
    else:
        class_idx = np.full(len(result.slices), result.class_names.index(class_name))
    maps = get_gradcam(predictor).heatmaps(result.model_inputs, class_idx)
    shapes = [(int(ds.Rows), int(ds.Columns)) for ds in result.series.datasets]
    return [np.clip(probs_to_size(m, shape), 0, 1).astype(np.float32) for m, shape in zip(maps, shapes, strict=True)]
