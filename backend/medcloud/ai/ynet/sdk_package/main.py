"""The bundled Y-Net brain tumour model as a MedCloud SDK package.

A thin layer over the Y-Net library (``medcloud.ai.ynet``): ``run`` calls ``inference.infer_series`` on the
series' datasets and turns its result into SDK results — the series class with its confidence, the tumour mask,
the measurements (area per slice, volume, centroid), the bounding box and a Grad-CAM heat-map of the class. The
platform, not this file, writes them as DICOM SEG / SR / secondary captures.

This is a *bundled* package: shipped with the platform, validated with ``bundled=True`` (the only way a package
may import ``medcloud.ai``) and run in-process by the worker. Its weights are the library's
(``medcloud/ai/ynet/weights/ynet.keras``, or the file ``$MEDCLOUD_YNET_WEIGHTS`` names).

Warm state: the loader executes this file afresh each time it loads the package, so the loaded network and its
traced Grad-CAM live in the library's module-level caches (``inference.get_predictor``,
``inference.get_gradcam``), which the worker process keeps between jobs.
"""

from __future__ import annotations

import numpy as np

from medcloud.ai.ynet import inference
from medcloud.ai.ynet.config import NO_TUMOUR
from medcloud.sdk import Application, Box, HeatMap, InferTask, InferType, Label, Mask, Measurement, Results


class TumourType(InferTask):
    type = InferType.CLASSIFICATION
    labels = ("glioma", "meningioma", "pituitary", "no_tumor")
    modalities = ("MR",)
    description = "Series class (tumour type, or no tumour) with its confidence, and its Grad-CAM heat-map"


class Tumour(InferTask):
    type = InferType.SEGMENTATION
    labels = ("tumour",)
    modalities = ("MR",)
    description = "Tumour mask on every slice"


class TumourLocation(InferTask):
    type = InferType.LOCALISATION
    labels = ("tumour",)
    modalities = ("MR",)
    description = "Bounding box, centroid (patient LPS, mm), tumour area per slice (mm2) and volume (mm3)"


class YNet(Application):
    tasks = [TumourType, Tumour, TumourLocation]

    def __init__(self):
        self.predictor = inference.get_predictor()  # loaded once per process, then cached by the library

    def run(self, series, context):
        n = series.shape[0]
        context.progress(5, f"Y-Net: classifying and segmenting {n} slices")
        result = inference.infer_series(series.datasets, self.predictor)
        # the library sorts the slices as the SDK does; map them by SOP Instance UID all the same
        where = {uid: k for k, uid in enumerate(series.sop_instance_uids)}
        order = [where.get(s.sop_instance_uid, -1) for s in result.slices]
        if sorted(order) != list(range(n)):
            raise RuntimeError("the series' slices do not have distinct SOP Instance UIDs")
        label = result.tumour_type if result.tumour else NO_TUMOUR
        context.progress(60, f"Grad-CAM for {label}")
        maps = inference.gradcam_maps(result, self.predictor, class_name=label)

        context.progress(85, "measurements")
        mask = np.zeros(series.shape, dtype=np.uint8)
        heat = np.zeros(series.shape, dtype=np.float32)
        measurements = []
        for s, k, m in zip(result.slices, order, maps, strict=True):
            mask[k] = s.mask
            heat[k] = m
            if s.area_px:
                measurements.append(Measurement("Tumour area", float(s.area_mm2), "mm2", slice_index=k))
        measurements.append(Measurement("Tumour volume", float(result.volume_mm3), "mm3"))
        boxes = []
        if result.tumour:
            for axis, v in zip("XYZ", result.centroid_mm, strict=True):
                measurements.append(Measurement(f"Tumour centroid {axis} (patient LPS)", float(v), "mm"))
            b = result.bbox
            ks = [k for s, k in zip(result.slices, order, strict=True) if s.area_px]
            boxes.append(
                Box(
                    "tumour",
                    float(result.confidence),
                    slice_start=min(ks),
                    slice_stop=max(ks) + 1,
                    row_start=b["row_min"],
                    row_stop=b["row_max"] + 1,
                    col_start=b["col_min"],
                    col_stop=b["col_max"] + 1,
                )
            )
        summary = result.summary()
        context.log.info(
            "Y-Net: %s (%.3f), %d tumour slice(s), volume %.1f mm3",
            label,
            result.confidence,
            len(summary["tumour_slices"]),
            result.volume_mm3,
        )
        context.progress(100, f"{label} ({result.confidence:.2f})")
        return Results(
            masks=[Mask(mask, labels=["tumour"])],
            labels=[Label(label, float(result.confidence))],
            measurements=measurements,
            boxes=boxes,
            heatmaps=[HeatMap(heat, label)],
            summary=summary,
        )
