"""DICOM outputs any model can write, built with highdicom (one function per DICOM object).

- ``build_binary_seg``: a binary Segmentation (one segment) referencing the source
  instances frame by frame, so OHIF overlays it on the series.
- ``build_heatmap_series``: heat-maps (e.g. Grad-CAM) blended on each slice as RGB
  secondary-capture images of a new series, each referencing its source slice.
- helpers: ``complete_sources`` (Type 2 patient/study attributes highdicom needs),
  ``seg_frame_sources`` (the source instance of each SEG frame), ``code`` (a concept in
  MedCloud's private coding scheme), ``algorithm_identification``.

Model-specific content (segment labels, SR findings and measurements) stays with each model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from medcloud.ai.common.dicom_io import SliceGeometry
from medcloud.sdk.outputs import complete_sources  # noqa: F401  (one copy, shared with the SDK)

MANUFACTURER = "MedCloud"
SCHEME = "99MEDCLOUD"  # private coding scheme of MedCloud's own concepts (tumour types, ...)

def code(value: str, meaning: str, scheme: str = SCHEME):
    """A coded concept (by default in MedCloud's private scheme)."""
    import highdicom as hd

    return hd.sr.CodedConcept(value, scheme, meaning)


def algorithm_identification(name: str, version: str):
    """The algorithm identification of an AI-generated segment."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    return hd.AlgorithmIdentificationSequence(name=name, version=version, family=codes.cid7162.ArtificialIntelligence)


def build_binary_seg(
    sources: Sequence[Dataset],
    masks: np.ndarray,
    *,
    segment_label: str,
    segmented_property_category: Any,
    segmented_property_type: Any,
    algorithm_identification: Any,
    model_name: str,
    software_version: str,
    series_description: str,
    content_label: str,
    content_description: str,
    series_number: int,
    manufacturer: str = MANUFACTURER,
) -> Dataset:
    """Binary SEG of ``masks`` (one per source slice, same order), one segment, empty frames omitted
    (all frames kept when every mask is empty)."""
    import highdicom as hd

    masks = np.asarray(masks).astype(bool)
    desc = hd.seg.SegmentDescription(
        segment_number=1,
        segment_label=segment_label,
        segmented_property_category=segmented_property_category,
        segmented_property_type=segmented_property_type,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=algorithm_identification,
    )
    return hd.seg.Segmentation(
        source_images=list(sources),
        pixel_array=masks,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[desc],
        series_instance_uid=generate_uid(),
        series_number=series_number,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer=manufacturer,
        manufacturer_model_name=model_name,
        software_versions=software_version,
        device_serial_number="0",
        series_description=series_description,
        content_label=content_label,
        content_description=content_description,
        omit_empty_frames=bool(masks.any()),
    )


def seg_frame_sources(seg: Dataset) -> list[str]:
    """Referenced source SOP Instance UID of each SEG frame (1-based frame k -> item k-1)."""
    out = []
    for item in seg.PerFrameFunctionalGroupsSequence:
        out.append(str(item.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID))
    return out


def orientation_letter(v: Sequence[float] | np.ndarray) -> str:
    """Dominant patient direction (L/R, P/A, H/F; LPS) of an image axis (highdicom takes one letter)."""
    vv = np.asarray(v, dtype=float)
    axis = int(np.argmax(np.abs(vv)))
    return ("LPH" if vv[axis] > 0 else "RAF")[axis]


def build_heatmap_series(
    sources: Sequence[Dataset],
    geometries: Sequence[SliceGeometry],
    heatmaps: Sequence[np.ndarray],
    images01: Sequence[np.ndarray],
    *,
    series_descriptions: Sequence[str],
    image_comments: Sequence[str],
    series_number: int,
    manufacturer: str = MANUFACTURER,
) -> list[Dataset]:
    """One RGB secondary capture per source slice (same order): the [0, 1] slice with its [0, 1]
    heat-map blended on top, in a new series; each image references its source slice."""
    import highdicom as hd

    from medcloud.ai.common.gradcam import overlay_rgb

    uid = generate_uid()
    out: list[Dataset] = []
    for i, (ds, geom, heat, img) in enumerate(zip(sources, geometries, heatmaps, images01, strict=False)):
        sc = hd.sc.SCImage.from_ref_dataset(
            ref_dataset=ds,
            pixel_array=overlay_rgb(img, heat),
            photometric_interpretation="RGB",
            bits_allocated=8,
            coordinate_system="PATIENT",
            series_instance_uid=uid,
            series_number=series_number,
            sop_instance_uid=generate_uid(),
            instance_number=i + 1,
            manufacturer=manufacturer,
            pixel_spacing=(geom.row_spacing, geom.col_spacing),  # type: ignore[arg-type]  # highdicom hints ints
            patient_orientation=(orientation_letter(geom.row_cosine), orientation_letter(geom.col_cosine)),
            series_description=series_descriptions[i],
        )
        src = Dataset()
        src.ReferencedSOPClassUID = ds.SOPClassUID
        src.ReferencedSOPInstanceUID = ds.SOPInstanceUID
        sc.SourceImageSequence = [src]
        sc.ImageComments = image_comments[i]
        out.append(sc)
    return out
