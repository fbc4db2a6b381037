"""DICOM outputs of a Y-Net series inference, built with highdicom.

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

MANUFACTURER = "MedCloud"
MODEL_NAME = "Y-Net brain tumour model"
SOFTWARE_VERSION = "ynet-1"
SCHEME = "99MEDCLOUD"


_TYPE2_PATIENT_STUDY = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "StudyID",
    "AccessionNumber",
)


def complete_sources(datasets: Sequence[Dataset]) -> list[Dataset]:
    """Shallow copies with missing Type 2 patient/study attributes present but empty.

    highdicom copies these into the derived objects and refuses sources without them; the
    copies keep the SOP Instance UIDs, so the outputs still reference the original instances.
    """
    import copy

    out = []
    for ds in datasets:
        missing = [k for k in _TYPE2_PATIENT_STUDY if k not in ds]
        if missing:
            ds = copy.copy(ds)
            for k in missing:
                setattr(ds, k, "")
        out.append(ds)
    return out


def _code(value: str, meaning: str):
    import highdicom as hd

    return hd.sr.CodedConcept(value, SCHEME, meaning)


def tumour_type_code(name: str):
    return {
        "glioma": _code("YNET-GLIOMA", "Glioma"),
        "meningioma": _code("YNET-MENINGIOMA", "Meningioma"),
        "pituitary": _code("YNET-PITUITARY", "Pituitary tumour"),
        "no_tumor": _code("YNET-NO-TUMOUR", "No tumour"),
    }.get(name, _code("YNET-" + name.upper(), name))


def algorithm_identification():
    import highdicom as hd
    from pydicom.sr.codedict import codes

    return hd.AlgorithmIdentificationSequence(
        name="MedCloud Y-Net", version=SOFTWARE_VERSION, family=codes.cid7162.ArtificialIntelligence
    )


def build_seg(result, series_number: int = 901) -> Dataset:
    """Binary SEG of the (class-gated) tumour masks, one frame per non-empty source slice."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    sources = complete_sources(result.series.datasets)
    masks = result.masks.astype(bool)
    desc = hd.seg.SegmentDescription(
        segment_number=1,
        segment_label="Tumour",
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Neoplasm,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=algorithm_identification(),
    )
    return hd.seg.Segmentation(
        source_images=sources,
        pixel_array=masks,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[desc],
        series_instance_uid=generate_uid(),
        series_number=series_number,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=MODEL_NAME,
        software_versions=SOFTWARE_VERSION,
        device_serial_number="0",
        series_description="Y-Net tumour segmentation",
        content_label="TUMOUR",
        content_description="Y-Net tumour mask",
        omit_empty_frames=bool(masks.any()),
    )


def seg_frame_sources(seg: Dataset) -> list[str]:
    """Referenced source SOP Instance UID of each SEG frame (1-based frame k -> item k-1)."""
    out = []
    for item in seg.PerFrameFunctionalGroupsSequence:
        out.append(str(item.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID))
    return out


def build_sr(result, seg: Dataset, series_number: int = 902) -> Dataset:
    """Comprehensive 3D SR (TID 1500) with the findings and measurements of the series."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    sources = complete_sources(result.series.datasets)
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=generate_uid(), name="MedCloud Y-Net", manufacturer_name=MANUFACTURER, model_name=MODEL_NAME
        ),
    )
    context = hd.sr.ObservationContext(observer_device_context=observer)
    algo = hd.sr.AlgorithmIdentification(name="MedCloud Y-Net", version=SOFTWARE_VERSION)
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


def _orientation_letter(v: Sequence[float]) -> str:
    """Dominant patient direction (L/R, P/A, H/F; LPS) of an image axis (highdicom takes one letter)."""
    vv = np.asarray(v, dtype=float)
    axis = int(np.argmax(np.abs(vv)))
    return ("LPH" if vv[axis] > 0 else "RAF")[axis]


def build_gradcam_series(
    result, heatmaps: Sequence[np.ndarray], images01: Sequence[np.ndarray], series_number: int = 903
) -> list[Dataset]:
    """One RGB secondary capture per slice: the slice with its Grad-CAM heat-map blended on top."""
    import highdicom as hd

    from medcloud.ai.ynet.gradcam import overlay_rgb

    uid = generate_uid()
    out = []
    sources = complete_sources(result.series.datasets)
    for s, heat, img in zip(result.slices, heatmaps, images01, strict=False):
        ds = sources[s.index]
        geom = result.series.geometries[s.index]
        rgb = overlay_rgb(img, heat)
        sc = hd.sc.SCImage.from_ref_dataset(
            ref_dataset=ds,
            pixel_array=rgb,
            photometric_interpretation="RGB",
            bits_allocated=8,
            coordinate_system="PATIENT",
            series_instance_uid=uid,
            series_number=series_number,
            sop_instance_uid=generate_uid(),
            instance_number=s.index + 1,
            manufacturer=MANUFACTURER,
            pixel_spacing=(geom.row_spacing, geom.col_spacing),
            patient_orientation=(_orientation_letter(geom.row_cosine), _orientation_letter(geom.col_cosine)),
            series_description=f"Y-Net Grad-CAM ({s.predicted_class})",
        )
        src = Dataset()
        src.ReferencedSOPClassUID = ds.SOPClassUID
        src.ReferencedSOPInstanceUID = ds.SOPInstanceUID
        sc.SourceImageSequence = [src]
        sc.ImageComments = f"Grad-CAM for {s.predicted_class} (p={s.probabilities[s.predicted_class]:.3f})"
        out.append(sc)
    return out


def build_dicom_outputs(result, predictor, with_gradcam: bool = True) -> dict[str, Any]:
    """``{"seg": Dataset, "sr": Dataset, "heatmaps": [Dataset, ...]}`` for a ``SeriesResult``."""
    from medcloud.ai.ynet.dicom_io import slice_pixels
    from medcloud.ai.ynet.preprocessing import normalize_intensity, probs_to_size

    seg = build_seg(result)
    sr = build_sr(result, seg)
    heat_ds: list[Dataset] = []
    if with_gradcam:
        from medcloud.ai.ynet.gradcam import GradCAM

        cam = GradCAM(predictor.model)
        class_idx = np.array([result.class_names.index(s.predicted_class) for s in result.slices])
        maps = cam.heatmaps(result.model_inputs, class_idx)
        images = [normalize_intensity(slice_pixels(ds)) for ds in result.series.datasets]
        maps_full = [np.clip(probs_to_size(m, im.shape), 0, 1) for m, im in zip(maps, images, strict=False)]
        heat_ds = build_gradcam_series(result, maps_full, images)
    return {"seg": seg, "sr": sr, "heatmaps": heat_ds}
