"""DICOM series inference, SEG/SR/Grad-CAM outputs and the measurements, checked by hand.

The plumbing tests use a random tiny Y-Net; the others use the committed weights.
"""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest

from medcloud.ai.common.synthetic import series_from_images
from tests.ai.conftest import load_png

hd = pytest.importorskip("highdicom")


def _roundtrip(ds):
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    buf.seek(0)
    return pydicom.dcmread(buf)


def _sr_numbers(sr) -> list[tuple[str, float, str]]:
    """(concept meaning, value, unit) of every NUM content item in an SR, recursively."""
    out = []

    def walk(items):
        for it in items:
            if it.ValueType == "NUM":
                mv = it.MeasuredValueSequence[0]
                out.append(
                    (
                        it.ConceptNameCodeSequence[0].CodeMeaning,
                        float(mv.NumericValue),
                        mv.MeasurementUnitsCodeSequence[0].CodeValue,
                    )
                )
            if "ContentSequence" in it:
                walk(it.ContentSequence)

    walk(sr.ContentSequence)
    return out


def _seg_sources(seg) -> list[str]:
    return [
        str(f.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID)
        for f in seg.PerFrameFunctionalGroupsSequence
    ]


def _val_series(records, **kw):
    return series_from_images([load_png(r.image_path) for r in records], **kw)


def test_plumbing_with_a_tiny_model(tiny_predictor, val_tumour_records):
    from medcloud.ai.ynet.inference import run

    series = _val_series(val_tumour_records[:3], pixel_spacing=(0.8, 0.8), slice_spacing=4.0, shuffle_seed=1)
    out = run(series, tiny_predictor)
    s = out["summary"]
    assert s["n_slices"] == 3 and len(s["slices"]) == 3
    for sl in s["slices"]:
        assert abs(sum(sl["probabilities"].values()) - 1) < 1e-4
    assert out["result"].masks.shape == (3, 256, 256)
    seg = _roundtrip(out["seg"])
    assert seg.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.4"
    _roundtrip(out["sr"])
    assert len(out["heatmaps"]) == 3
    hm = _roundtrip(out["heatmaps"][0])
    assert hm.PhotometricInterpretation == "RGB" and hm.pixel_array.shape == (256, 256, 3)
    assert hm.SourceImageSequence[0].ReferencedSOPInstanceUID in {d.SOPInstanceUID for d in series}


@pytest.fixture(scope="module")
def val_series_result(ynet_predictor, val_tumour_records):
    from medcloud.ai.ynet.inference import run

    # 12-bit, MONOCHROME1, rescale slope/intercept, shuffled order, known geometry
    series = _val_series(
        val_tumour_records,
        pixel_spacing=(0.98, 0.98),
        slice_spacing=5.0,
        bits=12,
        monochrome1=True,
        slope=2.0,
        intercept=-50.0,
        shuffle_seed=11,
        orientation=(1, 0, 0, 0, 1, 0),
        origin=(-125.0, -125.0, 10.0),
    )
    return series, run(series, ynet_predictor)


def test_val_series_finds_the_tumour_and_its_type(val_series_result, val_tumour_records):
    from medcloud.ai.common.manifest import load_mask
    from medcloud.ai.common.metrics import PooledOverlap

    series, out = val_series_result
    res = out["result"]
    assert res.tumour
    assert res.tumour_type == val_tumour_records[0].label
    ov = PooledOverlap()
    by_uid = {d.SOPInstanceUID: int(d.InstanceNumber) - 1 for d in series}  # order before shuffling
    for sl in res.slices:
        rec = val_tumour_records[by_uid[sl.sop_instance_uid]]
        ov.update(load_mask(rec, (256, 256)), sl.mask)
    assert ov.dice > 0.7


def test_dicom_path_matches_png_path(val_series_result, ynet_predictor, val_tumour_records):
    """MONOCHROME1 + rescale + 12-bit give the same masks as the 8-bit PNGs."""
    series, out = val_series_result
    probs, masks = ynet_predictor.predict_slices([load_png(r.image_path) for r in val_tumour_records])
    by_uid = {d.SOPInstanceUID: int(d.InstanceNumber) - 1 for d in series}  # order before shuffling
    for sl in out["result"].slices:
        i = by_uid[sl.sop_instance_uid]
        png_mask = ynet_predictor.decide(probs[i], masks[i])[1]
        if sl.area_px:
            assert abs(int(png_mask.sum()) - sl.area_px) <= max(5, 0.02 * sl.area_px)
        np.testing.assert_allclose(list(sl.probabilities.values()), probs[i], atol=0.03)


def test_area_volume_centroid_by_hand(val_series_result):
    series, out = val_series_result
    res = out["result"]
    ps, spacing = 0.98, 5.0
    areas = [int(s.mask.sum()) * ps * ps for s in res.slices]
    for s, a in zip(res.slices, areas, strict=False):
        assert s.area_mm2 == pytest.approx(a)
    assert res.volume_mm3 == pytest.approx(sum(areas) * spacing)
    # centroid: voxel-count-weighted mean of pixel centres mapped to the patient grid
    pts, _w = [], []
    for s in res.slices:
        rr, cc = np.nonzero(s.mask)
        z = 10.0 + spacing * s.index  # slices sorted along +z from the origin
        pts.append(np.c_[-125.0 + cc * ps, -125.0 + rr * ps, np.full(len(rr), z)])
    pts = np.concatenate(pts)
    np.testing.assert_allclose(res.centroid_mm, pts.mean(axis=0), atol=1e-3)
    bb = res.bbox
    rows = np.concatenate([np.nonzero(s.mask)[0] for s in res.slices])
    assert bb["row_min"] == rows.min() and bb["row_max"] == rows.max()


def test_seg_and_sr_read_back_and_reference_the_sources(val_series_result):
    series, out = val_series_result
    res = out["result"]
    src_uids = {d.SOPInstanceUID for d in series}
    seg = hd.seg.segread(io.BytesIO(_to_bytes(out["seg"])))
    assert seg.number_of_segments == 1
    frame_uids = _seg_sources(seg)
    positive = {s.sop_instance_uid: s for s in res.slices if s.area_px}
    assert set(frame_uids) == set(positive) and set(frame_uids) <= src_uids
    # each frame holds the mask of the slice it references
    pix = seg.pixel_array if seg.pixel_array.ndim == 3 else seg.pixel_array[None]
    for k, uid in enumerate(frame_uids):
        np.testing.assert_array_equal(pix[k].astype(bool), positive[uid].mask)
    assert seg.StudyInstanceUID == series[0].StudyInstanceUID
    assert seg.FrameOfReferenceUID == series[0].FrameOfReferenceUID

    sr = hd.sr.srread(io.BytesIO(_to_bytes(out["sr"])))
    assert sr.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.34"  # Comprehensive 3D SR
    nums = _sr_numbers(sr)
    vol = [v for name, v, unit in nums if name == "Volume"]
    assert vol == [pytest.approx(res.volume_mm3, rel=1e-6)]
    areas = sorted(v for name, v, unit in nums if name == "Area")
    assert areas == pytest.approx(sorted(s.area_mm2 for s in positive.values()), rel=1e-6)
    evidence = {
        str(i.ReferencedSOPInstanceUID)
        for st in sr.CurrentRequestedProcedureEvidenceSequence
        for se in st.ReferencedSeriesSequence
        for i in se.ReferencedSOPSequence
    }
    assert src_uids <= evidence and seg.SOPInstanceUID in evidence
    groups = sr.content.get_planar_roi_measurement_groups()
    refs = {g.referenced_segmentation_frame.source_image_for_segmentation.referenced_sop_instance_uid for g in groups}
    assert refs == set(positive)


def test_json_summary(val_series_result):
    import json

    _, out = val_series_result
    s = json.loads(json.dumps(out["summary"]))
    assert s["decision"]["tumour"] is True and s["measurements"]["slice_spacing_mm"] == pytest.approx(5.0)
    assert len(s["localisation"]["centroid_patient_mm"]) == 3


def _to_bytes(ds) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _read_dir(path):
    return [pydicom.dcmread(p) for p in sorted(path.glob("*.dcm"))]


def test_real_mr_series(ynet_predictor, ynet_data):
    from medcloud.ai.ynet.dicom_outputs import build_seg, build_sr
    from medcloud.ai.ynet.inference import infer_series

    series = _read_dir(ynet_data / "dicom" / "mr_brain_sagittal")
    res = infer_series(series, ynet_predictor)
    assert len(res.slices) == len(series) == 192
    assert res.series.spacing_source == "positions" and res.series.slice_spacing == pytest.approx(0.9, abs=0.01)
    for s in res.slices:
        assert s.mask.shape == (series[0].Rows, series[0].Columns)
    seg = hd.seg.segread(io.BytesIO(_to_bytes(build_seg(res))))
    assert set(_seg_sources(seg)) <= {d.SOPInstanceUID for d in series}
    sr = hd.sr.srread(io.BytesIO(_to_bytes(build_sr(res, seg))))
    assert sr.StudyInstanceUID == series[0].StudyInstanceUID
    if res.tumour:
        vol = [v for n, v, _ in _sr_numbers(sr) if n == "Volume"][0]
        assert vol == pytest.approx(sum(s.area_mm2 * s.thickness_mm for s in res.slices), rel=1e-6)


def test_real_ct_series_with_gantry_tilt(ynet_predictor, ynet_data):
    from medcloud.ai.ynet.inference import run

    series = _read_dir(ynet_data / "dicom" / "ct_head_gantry_tilt")
    out = run(series, ynet_predictor, with_gradcam=True)
    res = out["result"]
    assert len(res.slices) == 28 and res.masks.shape[1:] == (512, 512)
    assert res.series.spacing_source == "positions"
    _roundtrip(out["seg"])
    _roundtrip(out["sr"])
    assert len(out["heatmaps"]) == 28
