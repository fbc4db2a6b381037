"""DICOM outputs of a Y-Net series inference (highdicom; generic builders in ``medcloud.ai.common.dicom_outputs``).

- ``build_seg``: a binary Segmentation (one segment, "Tumour") referencing the
  source instances frame by frame, so OHIF overlays it on the series.
- ``build_sr``: a Comprehensive 3D SR with a TID 1500 Measurement Report: a
  volumetric group (TID 1411) referencing the SEG segment with the tumour type,
  probability, volume and centroid, one planar group (TID 1410) per tumour slice
  referencing its SEG frame with the area, or for a negative series a TID 1501
  group stating the absence of a tumour.
- ``build_gradcam_series``: Grad-CAM heat-maps blended on each slice as RGB
  secondary-capture images of a new series, each referencing its source slice.

Codes: SNOMED CT / DCM / UCUM where a standard code exists; tumour types and
the centroid components use the private coding scheme ``99MEDCLOUD``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from medcloud.ai.common import dicom_outputs as common
from medcloud.ai.common.dicom_outputs import MANUFACTURER, complete_sources, seg_frame_sources

MODEL_NAME = "Y-Net brain tumour model"
SOFTWARE_VERSION = "ynet-1"
ALGORITHM_NAME = "MedCloud Y-Net"


def _code(value: str, meaning: str):
    return common.code(value, meaning)


def tumour_type_code(name: str):
    return {
        "glioma": _code("YNET-GLIOMA", "Glioma"),
        "meningioma": _code("YNET-MENINGIOMA", "Meningioma"),
        "pituitary": _code("YNET-PITUITARY", "Pituitary tumour"),
        "no_tumor": _code("YNET-NO-TUMOUR", "No tumour"),
    }.get(name, _code("YNET-" + name.upper(), name))


def algorithm_identification():
    return common.algorithm_identification(ALGORITHM_NAME, SOFTWARE_VERSION)


def build_seg(result, series_number: int = 901) -> Dataset:
    """Binary SEG of the (class-gated) tumour masks, one frame per non-empty source slice."""
    from pydicom.sr.codedict import codes

    return common.build_binary_seg(
        complete_sources(result.series.datasets),
        result.masks,
        segment_label="Tumour",
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Neoplasm,
        algorithm_identification=algorithm_identification(),
        model_name=MODEL_NAME,
        software_version=SOFTWARE_VERSION,
        series_description="Y-Net tumour segmentation",
        content_label="TUMOUR",
        content_description="Y-Net tumour mask",
        series_number=series_number,
    )


def build_sr(result, seg: Dataset, series_number: int = 902) -> Dataset:
    """Comprehensive 3D SR (TID 1500) with the findings and measurements of the series."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    sources = complete_sources(result.series.datasets)
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=generate_uid(), name=ALGORITHM_NAME, manufacturer_name=MANUFACTURER, model_name=MODEL_NAME
        ),
    )
    context = hd.sr.ObservationContext(observer_device_context=observer)
    algo = hd.sr.AlgorithmIdentification(name=ALGORITHM_NAME, version=SOFTWARE_VERSION)
    groups: list[Any] = []
    probability = codes.DCM.Probability
    unit_one = hd.sr.CodedConcept("1", "UCUM", "no units")
    mm = codes.UCUM.Millimeter
    frames = seg_frame_sources(seg)
    if result.tumour:
        ttype = result.tumour_type
        measurements = [
            hd.sr.Measurement(
                name=codes.SCT.Volume,
                value=float(result.volume_mm3),
                unit=codes.UCUM.CubicMillimeter,
                algorithm_id=algo,
            ),
            hd.sr.Measurement(name=probability, value=float(result.confidence), unit=unit_one, algorithm_id=algo),
        ]
        for axis, v in zip("XYZ", result.centroid_mm, strict=False):
            measurements.append(
                hd.sr.Measurement(
                    name=_code(f"YNET-CENTROID-{axis}", f"Tumour centroid {axis} (patient LPS)"),
                    value=float(v),
                    unit=mm,
                    algorithm_id=algo,
                )
            )
        groups.append(
            hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
                tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(), identifier="Tumour"),
                referenced_segment=hd.sr.ReferencedSegment(
                    sop_class_uid=seg.SOPClassUID,
                    sop_instance_uid=seg.SOPInstanceUID,
                    segment_number=1,
                    source_images=[
                        hd.sr.SourceImageForSegmentation(ds.SOPClassUID, ds.SOPInstanceUID)
                        for ds in sources
                        if ds.SOPInstanceUID in set(frames)
                    ],
                ),
                finding_type=codes.SCT.Neoplasm,
                algorithm_id=algo,
                finding_sites=[hd.sr.FindingSite(codes.SCT.Brain)],
                measurements=measurements,
                qualitative_evaluations=[
                    hd.sr.QualitativeEvaluation(name=codes.DCM.Finding, value=tumour_type_code(ttype))
                ],
            )
        )
        for s in result.slices:
            if not s.area_px:
                continue
            frame_number = frames.index(s.sop_instance_uid) + 1
            groups.append(
                hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
                    tracking_identifier=hd.sr.TrackingIdentifier(
                        uid=generate_uid(), identifier=f"Tumour slice {s.index + 1}"
                    ),
                    referenced_segment=hd.sr.ReferencedSegmentationFrame(
                        sop_class_uid=seg.SOPClassUID,
                        sop_instance_uid=seg.SOPInstanceUID,
                        frame_number=frame_number,
                        segment_number=1,
                        source_image=hd.sr.SourceImageForSegmentation(
                            sources[s.index].SOPClassUID, sources[s.index].SOPInstanceUID
                        ),
                    ),
                    finding_type=codes.SCT.Neoplasm,
                    algorithm_id=algo,
                    measurements=[
                        hd.sr.Measurement(
                            name=codes.SCT.Area,
                            value=float(s.area_mm2),
                            unit=codes.UCUM.SquareMillimeter,
                            algorithm_id=algo,
                        ),
                        hd.sr.Measurement(
                            name=probability, value=float(s.probabilities[ttype]), unit=unit_one, algorithm_id=algo
                        ),
                    ],
                )
            )
    else:
        groups.append(
            hd.sr.MeasurementsAndQualitativeEvaluations(
                tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(), identifier="Series classification"),
                algorithm_id=algo,
                measurements=[
                    hd.sr.Measurement(
                        name=probability, value=float(result.confidence), unit=unit_one, algorithm_id=algo
                    )
                ],
                qualitative_evaluations=[
                    hd.sr.QualitativeEvaluation(name=codes.DCM.Finding, value=tumour_type_code("no_tumor"))
                ],
            )
        )
    report = hd.sr.MeasurementReport(
        observation_context=context,
        procedure_reported=codes.SCT.DiagnosticImaging,
        imaging_measurements=groups,
        referenced_images=None if result.tumour else list(sources),
    )
    return hd.sr.Comprehensive3DSR(
        evidence=list(sources) + [seg],
        content=report,
        series_instance_uid=generate_uid(),
        series_number=series_number,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        series_description="Y-Net findings and measurements",
        is_complete=True,
    )


def build_gradcam_series(
    result, heatmaps: Sequence[np.ndarray], images01: Sequence[np.ndarray], series_number: int = 903
) -> list[Dataset]:
    """One RGB secondary capture per slice: the slice with its Grad-CAM heat-map blended on top."""
    return common.build_heatmap_series(
        complete_sources(result.series.datasets),
        result.series.geometries,
        heatmaps,
        images01,
        series_descriptions=[f"Y-Net Grad-CAM ({s.predicted_class})" for s in result.slices],
        image_comments=[
            f"Grad-CAM for {s.predicted_class} (p={s.probabilities[s.predicted_class]:.3f})" for s in result.slices
        ],
        series_number=series_number,
    )


def build_dicom_outputs(result, predictor, with_gradcam: bool = True) -> dict[str, Any]:
    """``{"seg": Dataset, "sr": Dataset, "heatmaps": [Dataset, ...]}`` for a ``SeriesResult``."""
    from medcloud.ai.ynet.preprocessing import dicom_slices01

    seg = build_seg(result)
    sr = build_sr(result, seg)
    heat_ds: list[Dataset] = []
    if with_gradcam:
        from medcloud.ai.ynet.explain import gradcam_maps

        maps_full = gradcam_maps(result, predictor)  # each slice's predicted class; Grad-CAM kept warm
        images = dicom_slices01(result.series.datasets)
        heat_ds = build_gradcam_series(result, maps_full, images)
    return {"seg": seg, "sr": sr, "heatmaps": heat_ds}
