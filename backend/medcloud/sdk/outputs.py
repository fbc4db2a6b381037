"""DICOM outputs of any model's results, built with highdicom on the platform side (never by the model).

- :func:`build_seg`: a binary Segmentation per :class:`~medcloud.sdk.results.Mask`, one segment per label,
  referencing the source instances frame by frame;
- :func:`build_sr`: a Comprehensive 3D SR holding a TID 1500 Measurement Report: labels (finding + probability),
  measurements (UCUM units, the slice they were made on), boxes (a rectangle on the middle slice of the box)
  and, per SEG segment, a volumetric group with the segment's volume;
- :func:`build_heatmap_captures`: RGB secondary captures, the slice blended with the heat-map, for the slices
  where the map is not negligible;
- :func:`build_mask_overlay_captures`: the SEG rendered, RGB secondary captures of the slices with a labelled
  voxel (each label tinted and outlined in its colour), for viewers and PACS that cannot show a SEG.

Every object carries the provenance (model name, version, package SHA-256, who ran it, when): in the
algorithm identification of the SEG segments and of the SR, in the SR's observer context and in the
``ContentCreatorName`` / ``ImageComments``. Codes: SNOMED CT / DCM / UCUM where a standard code exists; model
labels use the private coding scheme ``99MEDCLOUD``.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import hashlib
import json
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from medcloud.sdk.results import Results, results_to_json
from medcloud.sdk.series import Series

MANUFACTURER = "MedCloud"
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


@dataclasses.dataclass(frozen=True)
class Provenance:
    model_name: str
    model_version: str
    package_sha256: str
    ran_by: str
    ran_at: str = dataclasses.field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    sdk_version: str = "1"

    def to_json(self) -> dict[str, str]:
        return dataclasses.asdict(self)

    def parameters(self) -> dict[str, str]:
        return {"package_sha256": self.package_sha256, "ran_by": self.ran_by[:64], "ran_at": self.ran_at}

    @property
    def short(self) -> str:
        sha = self.package_sha256[:12]
        return f"{self.model_name} {self.model_version} sha256:{sha} by {self.ran_by} at {self.ran_at}"


def complete_sources(datasets: Sequence[Dataset]) -> list[Dataset]:
    """Shallow copies with missing Type 2 patient/study attributes present but empty (highdicom needs them);
    the SOP Instance UIDs stay, so the outputs reference the original instances."""
    out = []
    for ds in datasets:
        missing = [k for k in _TYPE2_PATIENT_STUDY if k not in ds]
        if missing:
            ds = copy.copy(ds)
            for k in missing:
                setattr(ds, k, "")
        out.append(ds)
    return out


def label_code(name: str):
    """A private code for a model label (CodeValue at most 16 characters)."""
    import highdicom as hd

    value = re.sub(r"[^A-Z0-9]+", "-", name.upper()).strip("-") or "LABEL"
    if len(value) > 16:
        value = value[:7] + "-" + hashlib.sha1(name.encode()).hexdigest()[:8]  # noqa: S324 - a code, not security
    return hd.sr.CodedConcept(value, SCHEME, name[:64])


def _short(text: str, n: int = 64) -> str:
    return text if len(text) <= n else text[: n - 1] + "~"


def _family():
    from pydicom.sr.codedict import codes

    return codes.cid7162.ArtificialIntelligence


def build_seg(
    series: Series, mask_array: np.ndarray, labels: Sequence[str], provenance: Provenance, series_number: int = 901
) -> Dataset:
    """Binary SEG, one segment per label (mask value k -> segment k), empty frames omitted."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    sources = complete_sources(series.datasets)
    algo = hd.AlgorithmIdentificationSequence(
        name=_short(provenance.model_name),
        family=_family(),
        version=_short(provenance.model_version),
        source=MANUFACTURER,
        parameters=provenance.parameters(),
    )
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=k,
            segment_label=_short(name),
            segmented_property_category=codes.SCT.Tissue,
            segmented_property_type=label_code(name),
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algo,
        )
        for k, name in enumerate(labels, 1)
    ]
    pixels = np.stack([(mask_array == k) for k in range(1, len(labels) + 1)], axis=-1).astype(np.uint8)
    seg = hd.seg.Segmentation(
        source_images=sources,
        pixel_array=pixels,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=generate_uid(),
        series_number=series_number,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=_short(provenance.model_name),
        software_versions=_short(provenance.model_version),
        device_serial_number=provenance.package_sha256[:16],
        series_description=_short(f"{provenance.model_name} segmentation"),
        content_label="MODEL_SEG",
        content_description=_short(f"{provenance.model_name} {provenance.model_version}"),
        content_creator_name=_person_name(provenance.ran_by),
        omit_empty_frames=bool(pixels.any()),
    )
    return seg


def _person_name(who: str) -> str:
    """A DICOM PN of a user name: one component is the family name, marked by a trailing caret."""
    name = re.sub(r"[\\^=\x00-\x1f]", " ", who).strip()[:60] or "unknown"
    return name + "^"


def _orientation_letter(v: Sequence[float] | np.ndarray) -> str:
    vv = np.asarray(v, dtype=float)
    axis = int(np.argmax(np.abs(vv)))
    return ("LPH" if vv[axis] > 0 else "RAF")[axis]


def build_sr(
    series: Series, results: Results, provenance: Provenance, segs: Sequence[Dataset] = (), series_number: int = 902
) -> Dataset:
    """Comprehensive 3D SR (TID 1500) with the labels, measurements, boxes and segment volumes."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    sources = complete_sources(series.datasets)
    algo = hd.sr.AlgorithmIdentification(
        name=_short(provenance.model_name),
        version=_short(provenance.model_version),
        # each parameter is an LO (64 characters): the package's SHA-256 (64 hex digits) whole, on its own
        parameters=[provenance.package_sha256, f"ran_by={provenance.ran_by}"[:64], f"ran_at={provenance.ran_at}"],
    )
    context = hd.sr.ObservationContext(
        observer_person_context=hd.sr.ObserverContext(
            observer_type=codes.DCM.Person,
            observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(
                name=_person_name(provenance.ran_by)
            ),
        ),
        observer_device_context=hd.sr.ObserverContext(
            observer_type=codes.DCM.Device,
            observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
                uid=generate_uid(),
                name=_short(provenance.model_name),
                manufacturer_name=MANUFACTURER,
                model_name=_short(f"{provenance.model_name} {provenance.model_version}"),
                serial_number=provenance.package_sha256[:16],
            ),
        ),
    )
    probability = codes.DCM.Probability
    unit_one = hd.sr.CodedConcept("1", "UCUM", "no units")
    groups: list[Any] = []

    def ref_image(k: int):
        ds = sources[k]
        return [hd.sr.SourceImageForMeasurement(ds.SOPClassUID, ds.SOPInstanceUID)]

    for i, lab in enumerate(results.labels):
        where = "" if lab.slice_index is None else f" slice {lab.slice_index + 1}"
        groups.append(
            hd.sr.MeasurementsAndQualitativeEvaluations(
                tracking_identifier=hd.sr.TrackingIdentifier(
                    uid=generate_uid(), identifier=_short(f"Label {i + 1}{where}")
                ),
                algorithm_id=algo,
                measurements=[
                    hd.sr.Measurement(
                        name=probability,
                        value=float(lab.confidence),
                        unit=unit_one,
                        algorithm_id=algo,
                        referenced_images=None if lab.slice_index is None else ref_image(lab.slice_index),
                    )
                ],
                qualitative_evaluations=[
                    hd.sr.QualitativeEvaluation(name=codes.DCM.Finding, value=label_code(lab.name))
                ],
            )
        )
    if results.measurements:
        groups.append(
            hd.sr.MeasurementsAndQualitativeEvaluations(
                tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(), identifier="Measurements"),
                algorithm_id=algo,
                measurements=[
                    hd.sr.Measurement(
                        name=label_code(m.name),
                        value=float(m.value),
                        unit=hd.sr.CodedConcept(m.unit, "UCUM", m.unit),
                        algorithm_id=algo,
                        referenced_images=None if m.slice_index is None else ref_image(m.slice_index),
                    )
                    for m in results.measurements
                ],
            )
        )
    for i, b in enumerate(results.boxes):
        k = (b.slice_start + b.slice_stop - 1) // 2
        ds = sources[k]
        rect = np.array(
            [
                [b.col_start, b.row_start],
                [b.col_stop, b.row_start],
                [b.col_stop, b.row_stop],
                [b.col_start, b.row_stop],
                [b.col_start, b.row_start],
            ],
            dtype=np.float32,
        )
        groups.append(
            hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
                tracking_identifier=hd.sr.TrackingIdentifier(
                    uid=generate_uid(),
                    identifier=_short(f"Box {i + 1} {b.label} slices {b.slice_start + 1}-{b.slice_stop}"),
                ),
                referenced_region=hd.sr.ImageRegion(
                    graphic_type=hd.sr.GraphicTypeValues.POLYLINE,
                    graphic_data=rect,
                    source_image=hd.sr.SourceImageForRegion(ds.SOPClassUID, ds.SOPInstanceUID),
                ),
                finding_type=label_code(b.label),
                algorithm_id=algo,
                measurements=[
                    hd.sr.Measurement(name=probability, value=float(b.confidence), unit=unit_one, algorithm_id=algo)
                ],
            )
        )
    for seg, mask in zip(segs, results.masks, strict=True):
        labels = list(mask.labels)
        referenced = {
            str(item.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID)
            for item in seg.PerFrameFunctionalGroupsSequence
        }
        counts = np.bincount(np.asarray(mask.array).ravel(), minlength=len(labels) + 1)
        for number, name in enumerate(labels, 1):
            if not counts[number]:
                continue
            groups.append(
                hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
                    tracking_identifier=hd.sr.TrackingIdentifier(
                        uid=generate_uid(), identifier=_short(f"Segment {name}")
                    ),
                    referenced_segment=hd.sr.ReferencedSegment(
                        sop_class_uid=seg.SOPClassUID,
                        sop_instance_uid=seg.SOPInstanceUID,
                        segment_number=number,
                        source_images=[
                            hd.sr.SourceImageForSegmentation(ds.SOPClassUID, ds.SOPInstanceUID)
                            for ds in sources
                            if str(ds.SOPInstanceUID) in referenced
                        ],
                    ),
                    finding_type=label_code(name),
                    algorithm_id=algo,
                    measurements=[
                        hd.sr.Measurement(
                            name=codes.SCT.Volume,
                            value=float(counts[number] * series.voxel_volume_mm3),
                            unit=codes.UCUM.CubicMillimeter,
                            algorithm_id=algo,
                        )
                    ],
                )
            )
    report = hd.sr.MeasurementReport(
        observation_context=context,
        procedure_reported=codes.SCT.DiagnosticImaging,
        imaging_measurements=groups,
        referenced_images=None if groups else list(sources[:1]),
    )
    sr = hd.sr.Comprehensive3DSR(
        evidence=list(sources) + list(segs),
        content=report,
        series_instance_uid=generate_uid(),
        series_number=series_number,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        series_description=_short(f"{provenance.model_name} findings and measurements"),
        is_complete=True,
    )
    return sr


def _colormap(v: np.ndarray) -> np.ndarray:
    """A jet-like RGB colour map of values in [0, 1] (no matplotlib needed)."""
    r = np.clip(1.5 - np.abs(4 * v - 3), 0, 1)
    g = np.clip(1.5 - np.abs(4 * v - 2), 0, 1)
    b = np.clip(1.5 - np.abs(4 * v - 1), 0, 1)
    return np.stack([r, g, b], axis=-1)


def overlay_rgb(image: np.ndarray, heat: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    lo, hi = np.percentile(image, [1, 99])
    grey = np.clip((image - lo) / max(float(hi - lo), 1e-6), 0, 1)[..., None].repeat(3, axis=-1)
    weight = alpha * np.clip(heat, 0, 1)[..., None]
    rgb = grey * (1 - weight) + _colormap(heat) * weight
    return (rgb * 255).round().astype(np.uint8)


# Colours of mask labels 1, 2, ... in the rendered overlays (red, green, blue, yellow, magenta, cyan)
LABEL_COLOURS = np.array([[1, 0, 0], [0, 1, 0], [0, 0.4, 1], [1, 1, 0], [1, 0, 1], [0, 1, 1]], dtype=np.float32)


def mask_overlay_rgb(image: np.ndarray, labels: np.ndarray, alpha: float = 0.4) -> np.ndarray:
    """The slice in grey with each mask label tinted in its colour and outlined (the SEG as a picture)."""
    lo, hi = np.percentile(image, [1, 99])
    rgb = np.clip((image - lo) / max(float(hi - lo), 1e-6), 0, 1)[..., None].repeat(3, axis=-1)
    for value in (v for v in np.unique(labels) if v):
        region = labels == value
        colour = LABEL_COLOURS[(int(value) - 1) % len(LABEL_COLOURS)]
        inner = region.copy()
        inner[1:, :] &= region[:-1, :]
        inner[:-1, :] &= region[1:, :]
        inner[:, 1:] &= region[:, :-1]
        inner[:, :-1] &= region[:, 1:]
        rgb[region] = rgb[region] * (1 - alpha) + colour * alpha
        rgb[region & ~inner] = colour  # the outline, opaque
    return (rgb * 255).round().astype(np.uint8)


def _captures(series: Series, chosen: list[int], render: Any, provenance: Provenance, series_number: int,
              description: str, comment: str) -> list[Dataset]:
    """One RGB secondary capture per chosen slice (``render(k)`` gives its pixels), each referencing its source
    slice and naming the model's provenance: what viewers and PACS without SEG or map support can show.

    highdicom builds (and checks) the first capture; the others share every attribute but the instance's own
    (UIDs, number, pixels, source slice), so they are copies of it with those replaced: the same objects at a
    fraction of the cost (about 10 ms per slice saved on these CPUs)."""
    import highdicom as hd

    if not chosen:
        return []
    first = chosen[0]
    ref = complete_sources(series.datasets[first:first + 1])[0]
    template = hd.sc.SCImage.from_ref_dataset(
        ref_dataset=ref,
        pixel_array=render(first),
        photometric_interpretation="RGB",
        bits_allocated=8,
        coordinate_system="PATIENT",
        series_instance_uid=generate_uid(),
        series_number=series_number,
        sop_instance_uid=generate_uid(),
        instance_number=first + 1,
        manufacturer=MANUFACTURER,
        pixel_spacing=series.pixel_spacing,  # type: ignore[arg-type]  # highdicom annotates int, takes float
        patient_orientation=(
            _orientation_letter(series.orientation[:3]),
            _orientation_letter(series.orientation[3:]),
        ),
        series_description=_short(description),
    )
    template.ImageComments = _short(f"{comment}; {provenance.short}", 10240)
    out: list[Dataset] = []
    for k in chosen:
        if k == first:
            sc = template
        else:
            sc = copy.deepcopy(template)
            sc.SOPInstanceUID = sc.file_meta.MediaStorageSOPInstanceUID = generate_uid()
            sc.InstanceNumber = k + 1
            pixels = np.ascontiguousarray(render(k), dtype=np.uint8)
            if pixels.shape != (template.Rows, template.Columns, 3):
                raise ValueError(f"slice {k}: the capture is {pixels.shape}, the series' slices are not all alike")
            data = pixels.tobytes()  # RGB, 8 bits, planar configuration 0: as highdicom encodes it
            sc.PixelData = data + b"\0" if len(data) % 2 else data
        src = Dataset()
        src.ReferencedSOPClassUID = series.datasets[k].SOPClassUID
        src.ReferencedSOPInstanceUID = series.datasets[k].SOPInstanceUID
        sc.SourceImageSequence = [src]
        out.append(sc)
    return out


def build_heatmap_captures(
    series: Series,
    heat: np.ndarray,
    label: str,
    provenance: Provenance,
    series_number: int = 903,
    min_value: float = 0.1,
    max_images: int = 64,
) -> list[Dataset]:
    """One RGB secondary capture per slice whose map reaches ``min_value`` (the strongest ``max_images``)."""
    peaks = heat.reshape(heat.shape[0], -1).max(axis=1)
    chosen = sorted(int(k) for k in np.argsort(-peaks)[:max_images] if peaks[k] >= min_value)
    return _captures(series, chosen, lambda k: overlay_rgb(series.volume[k], heat[k]), provenance, series_number,
                     f"{provenance.model_name} heat-map ({label})", f"heat-map for {label}")


def build_mask_overlay_captures(
    series: Series,
    mask: np.ndarray,
    labels: Sequence[str],
    provenance: Provenance,
    series_number: int = 905,
    max_images: int = 64,
) -> list[Dataset]:
    """The SEG rendered: one RGB secondary capture per slice with any labelled voxel (the largest ``max_images``),
    for viewers and PACS that cannot show a DICOM SEG."""
    areas = (mask.reshape(mask.shape[0], -1) > 0).sum(axis=1)
    chosen = sorted(int(k) for k in np.argsort(-areas)[:max_images] if areas[k] > 0)
    return _captures(series, chosen, lambda k: mask_overlay_rgb(series.volume[k], mask[k]), provenance,
                     series_number, f"{provenance.model_name} segmentation overlay",
                     "segmentation overlay of " + ", ".join(labels))


def build_outputs(series: Series, results: Results, provenance: Provenance) -> dict[str, list[Dataset]]:
    """All DICOM objects of validated results: ``{"seg": [...], "sr": [...], "heatmaps": [...]}``."""
    with warnings.catch_warnings():
        # highdicom warns about one-component person names of the *source* (e.g. "anonymized"): not ours to fix
        warnings.filterwarnings("ignore", message=".*unlikely to represent the intended person name.*")
        return _build_outputs(series, results, provenance)


def _build_outputs(series: Series, results: Results, provenance: Provenance) -> dict[str, list[Dataset]]:
    segs = [
        build_seg(series, m.array, list(m.labels), provenance, series_number=901 + i)
        for i, m in enumerate(results.masks)
    ]
    sr = []
    if results.labels or results.measurements or results.boxes or segs:
        sr = [build_sr(series, results, provenance, segs)]
    heat: list[Dataset] = []
    for i, h in enumerate(results.heatmaps):
        heat += build_heatmap_captures(
            series, np.asarray(h.array, dtype=np.float32), h.label, provenance, series_number=910 + i
        )
    objects = {"seg": segs, "sr": sr, "heatmaps": heat}
    overlays: list[Dataset] = []
    for i, m in enumerate(results.masks):
        overlays += build_mask_overlay_captures(series, np.asarray(m.array), list(m.labels), provenance,
                                                series_number=905 + i)
    if overlays:
        objects["overlays"] = overlays
    return objects


def write_outputs(
    out_dir: str | Path, series: Series, results: Results, provenance: Provenance, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Write the DICOM objects and ``results.json`` (results + provenance + the files written) into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    objects = build_outputs(series, results, provenance)
    written: dict[str, list[str]] = {}
    for kind, datasets in objects.items():
        for i, ds in enumerate(datasets):
            name = f"{kind}_{i + 1:03d}.dcm" if kind in ("heatmaps", "overlays") else f"{kind}_{i + 1}.dcm"
            ds.save_as(out_dir / name, enforce_file_format=True)
            written.setdefault(kind, []).append(name)
    doc = {
        "provenance": provenance.to_json(),
        "series": {
            "series_instance_uid": series.series_instance_uid,
            "shape": list(series.shape),
            "modality": series.modality,
        },
        "results": results_to_json(results),
        "dicom": written,
        **(extra or {}),
    }
    (out_dir / "results.json").write_text(json.dumps(doc, indent=2, allow_nan=False))
    return doc
