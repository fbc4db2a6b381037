"""The bundled Y-Net as an SDK package (``medcloud/ai/ynet/sdk_package``), run through the SDK runner in-process —
the path the platform's worker takes for bundled models — and checked against the Y-Net library's own result.

No Django, no services: the committed weights and the shared data folder only.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pydicom
import pytest

from medcloud.ai.common.synthetic import series_from_images
from medcloud.sdk import validate_results
from medcloud.sdk.loader import load_application
from medcloud.sdk.runner import run_package
from medcloud.sdk.series import load_series
from medcloud.sdk.validate import PackageError, inspect_package, validate_package
from tests.ai.conftest import _tf_threads, load_png

hd = pytest.importorskip("highdicom")

PACKAGE = Path(__file__).resolve().parents[2] / "backend" / "medcloud" / "ai" / "ynet" / "sdk_package"


# --- validation: bundled packages may import medcloud.ai, uploads may not ------------------------------------


def test_the_package_is_valid_as_a_bundled_package():
    assert validate_package(PACKAGE, bundled=True) == []
    info, _ = inspect_package(PACKAGE, bundled=True)
    assert info.manifest is not None and info.manifest.name == "ynet" and info.application == "YNet"
    by_name = {t.name: t for t in info.tasks}
    assert by_name["TumourType"].type == "classification"
    assert by_name["TumourType"].labels == ("glioma", "meningioma", "pituitary", "no_tumor")
    assert by_name["Tumour"].type == "segmentation" and by_name["Tumour"].labels == ("tumour",)
    assert by_name["TumourLocation"].type == "localisation"
    assert all(t.modalities == ("MR",) for t in info.tasks)


def test_the_same_files_uploaded_are_refused(tmp_path):
    """Without ``bundled`` (an upload, as a folder or a zip) medcloud.ai imports are refused, file and line named."""
    problems = validate_package(PACKAGE)
    assert problems and all(p.file == "main.py" and p.line > 0 for p in problems)
    assert any("import medcloud.ai.ynet" in p.message and "bundled" in p.message for p in problems)
    zipped = shutil.make_archive(str(tmp_path / "ynet"), "zip", PACKAGE)
    assert any("medcloud.ai" in p.message for p in validate_package(zipped))
    # a folder is bundled only under medcloud/ai/ (an extracted upload never is, whoever passes the flag) ...
    copy = shutil.copytree(PACKAGE, tmp_path / "upload", ignore=shutil.ignore_patterns("__pycache__"))
    (problem,) = validate_package(copy, bundled=True)
    assert "bundled packages are folders shipped with the platform" in problem.message
    # ... a zip on the word of the platform, which passes bundled=True only for its own zip of such a folder
    assert validate_package(zipped, bundled=True) == []
    with pytest.raises(PackageError):
        run_package(PACKAGE, tmp_path, tmp_path / "out")  # refused before anything runs


@pytest.mark.parametrize(
    "line, allowed_bundled",
    [
        ("from medcloud import ai", True),
        ("import medcloud.ai.common.gradcam", True),
        ("from medcloud.ai.ynet.inference import infer_series", True),
        ("import medcloud.core.paths", False),
        ("from medcloud import core", False),
        ("from medcloud import sdk, settings", False),
        ("import medcloud.aiextra", False),
    ],
)
def test_what_a_bundled_package_may_import(tmp_path, monkeypatch, line, allowed_bundled):
    import medcloud.sdk.validate as validate

    monkeypatch.setattr(validate, "BUNDLED_ROOT", tmp_path)  # pretend tmp_path is the platform's medcloud/ai/
    pkg = shutil.copytree(PACKAGE, tmp_path / "pkg", ignore=shutil.ignore_patterns("__pycache__"))
    (pkg / "helper.py").write_text(line + "\n")
    uploaded = [p for p in validate_package(pkg) if p.file == "helper.py"]
    bundled = [p for p in validate_package(pkg, bundled=True) if p.file == "helper.py"]
    assert uploaded, "an upload may import nothing from medcloud but medcloud.sdk"
    assert (bundled == []) is allowed_bundled, bundled


def test_check_command_with_and_without_bundled(capsys):
    from medcloud.sdk.__main__ import main

    assert main(["check", str(PACKAGE), "--bundled"]) == 0
    assert main(["check", str(PACKAGE)]) == 1
    assert "main.py:" in capsys.readouterr().out


# --- running it ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def library():
    """The Y-Net library with its process-wide (warm) predictor: the one the package uses too."""
    _tf_threads()
    from medcloud.ai.ynet import inference

    inference.get_predictor()
    return inference


def _write_series(datasets, folder: Path) -> Path:
    folder.mkdir(parents=True)
    for i, ds in enumerate(datasets):
        ds.save_as(folder / f"{i:04d}.dcm", enforce_file_format=True)
    return folder


def _without_input_order(summary: dict) -> dict:
    """The library's summary less ``input_index`` (the position of each slice in the list the caller passed, which
    differs: the package passes the SDK's sorted datasets, the test the files in folder order)."""
    return {**summary, "slices": [{k: v for k, v in s.items() if k != "input_index"} for s in summary["slices"]]}


def _read_dir(folder: Path):
    return [pydicom.dcmread(p) for p in sorted(folder.glob("*.dcm"))]


def _sr_items(sr):
    """(concept meaning, value or code meaning, unit, referenced SOP Instance UIDs) of every NUM / CODE item."""
    out = []

    def walk(items):
        for it in items:
            refs = [
                str(c.ReferencedSOPSequence[0].ReferencedSOPInstanceUID)
                for c in getattr(it, "ContentSequence", [])
                if c.ValueType == "IMAGE"
            ]
            name = it.ConceptNameCodeSequence[0].CodeMeaning
            if it.ValueType == "NUM":
                mv = it.MeasuredValueSequence[0]
                out.append((name, float(mv.NumericValue), mv.MeasurementUnitsCodeSequence[0].CodeValue, refs))
            elif it.ValueType == "CODE":
                out.append((name, it.ConceptCodeSequence[0].CodeMeaning, None, refs))
            if "ContentSequence" in it:
                walk(it.ContentSequence)

    walk(sr.ContentSequence)
    return out


@pytest.fixture(scope="module")
def tumour_run(library, val_tumour_records, tmp_path_factory):
    """The val tumour series of test_inference (12-bit, MONOCHROME1, rescale, shuffled, known geometry), written
    to a folder and run through the SDK runner in-process; plus the library's own JSON result for it."""
    tmp = tmp_path_factory.mktemp("ynet-sdk")
    datasets = series_from_images(
        [load_png(r.image_path) for r in val_tumour_records],
        pixel_spacing=(0.98, 0.98),
        slice_spacing=5.0,
        bits=12,
        monochrome1=True,
        slope=2.0,
        intercept=-50.0,
        shuffle_seed=11,
        origin=(-125.0, -125.0, 10.0),
    )
    series_dir = _write_series(datasets, tmp / "series")
    progress: list[tuple[float, str]] = []
    doc = run_package(
        PACKAGE,
        series_dir,
        tmp / "out",
        bundled=True,
        ran_by="pytest",
        on_progress=lambda p, m: progress.append((p, m)),
    )
    lib = library.infer_series(_read_dir(series_dir), library.get_predictor())
    summary = json.loads(lib.to_json())  # the library's JSON result, exactly as it is published
    return {
        "doc": doc,
        "out": tmp / "out",
        "series_dir": series_dir,
        "lib": lib,
        "summary": summary,
        "progress": progress,
    }


def test_results_validate_and_match_the_library(tumour_run, library):
    series = load_series(tumour_run["series_dir"])
    app = load_application(PACKAGE)
    info, _ = inspect_package(PACKAGE, bundled=True)
    from medcloud.sdk import Context

    results = app.run(series, Context(Path(tumour_run["out"]).parent))
    validate_results(results, series, info.tasks)
    lib = tumour_run["lib"]
    assert [s.sop_instance_uid for s in lib.slices] == series.sop_instance_uids
    (mask,) = results.masks
    assert mask.array.dtype == np.uint8 and mask.array.shape == series.shape
    np.testing.assert_array_equal(mask.array, lib.masks.astype(np.uint8))
    (heat,) = results.heatmaps
    assert heat.label == lib.tumour_type and heat.array.shape == series.shape and heat.array.max() > 0.5
    (box,) = results.boxes
    b = lib.bbox
    assert (box.slice_start, box.slice_stop, box.row_start, box.row_stop, box.col_start, box.col_stop) == (
        b["slice_min"],
        b["slice_max"] + 1,
        b["row_min"],
        b["row_max"] + 1,
        b["col_min"],
        b["col_max"] + 1,
    )
    assert _without_input_order(results.summary) == _without_input_order(tumour_run["summary"])


def test_the_run_reports_progress_and_provenance(tumour_run):
    progress, doc = tumour_run["progress"], tumour_run["doc"]
    assert progress[0][0] < 10 and progress[-1][0] == 100
    assert [p for p, _ in progress] == sorted(p for p, _ in progress)
    assert any("Grad-CAM" in m for _, m in progress)
    prov = doc["provenance"]
    assert prov["model_name"] == "ynet" and prov["model_version"] == "2" and prov["ran_by"] == "pytest"
    assert len(prov["package_sha256"]) == 64
    assert sorted(doc["dicom"]) == ["heatmaps", "overlays", "seg", "sr"]


def test_seg_reads_back_with_highdicom_and_references_the_sources(tumour_run):
    lib, out = tumour_run["lib"], tumour_run["out"]
    src = {s.sop_instance_uid: s for s in lib.slices}
    seg = hd.seg.segread(out / "seg_1.dcm")
    assert seg.number_of_segments == 1 and seg.get_segment_description(1).segment_label == "tumour"
    frames = [
        str(f.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID)
        for f in seg.PerFrameFunctionalGroupsSequence
    ]
    positive = {uid for uid, s in src.items() if s.area_px}
    assert positive and set(frames) == positive
    assert {uid for _, _, uid in seg.get_source_image_uids()} == set(src)  # every source instance referenced
    ds0 = lib.series.datasets[0]
    assert seg.StudyInstanceUID == ds0.StudyInstanceUID and seg.FrameOfReferenceUID == ds0.FrameOfReferenceUID
    pix = seg.pixel_array if seg.pixel_array.ndim == 3 else seg.pixel_array[None]
    for k, uid in enumerate(frames):
        np.testing.assert_array_equal(pix[k].astype(bool), src[uid].mask)


def test_sr_measurements_equal_the_library_json(tumour_run):
    """Class and confidence, area per slice, volume and centroid in the SR equal the library's JSON result."""
    summary, out = tumour_run["summary"], tumour_run["out"]
    sr = hd.sr.srread(out / "sr_1.dcm")
    assert sr.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.34"  # Comprehensive 3D SR
    items = _sr_items(sr)
    decision = summary["decision"]
    assert decision["tumour"] is True
    findings = [v for name, v, _, _ in items if name == "Finding"]
    assert decision["label"] in findings
    probabilities = [v for name, v, _, _ in items if name == "Probability"]
    assert probabilities[0] == pytest.approx(decision["confidence"], abs=1e-5)  # the series label comes first
    areas = {refs[0]: v for name, v, unit, refs in items if name == "Tumour area" and unit == "mm2"}
    expected = {s["sop_instance_uid"]: s["tumour_area_mm2"] for s in summary["slices"] if s["tumour_area_px"]}
    assert set(areas) == set(expected) and len(areas) == len(summary["tumour_slices"])
    for uid, v in expected.items():
        assert areas[uid] == pytest.approx(v, abs=1e-3)
    (volume,) = [v for name, v, unit, _ in items if name == "Tumour volume" and unit == "mm3"]
    assert volume == pytest.approx(summary["measurements"]["volume_mm3"], abs=1e-3)
    # the platform's own segment volume (voxels x voxel volume) agrees on this evenly spaced series
    (seg_volume,) = [v for name, v, unit, _ in items if name == "Volume"]
    assert seg_volume == pytest.approx(volume, rel=1e-6)
    centroid = [
        next(v for name, v, unit, _ in items if name == f"Tumour centroid {axis} (patient LPS)" and unit == "mm")
        for axis in "XYZ"
    ]
    assert centroid == pytest.approx(summary["localisation"]["centroid_patient_mm"], abs=1e-4)
    # results.json carries the same numbers, and the library's summary as is
    res = tumour_run["doc"]["results"]
    assert res["labels"] == [
        {"name": decision["label"], "confidence": pytest.approx(decision["confidence"], abs=1e-5), "slice_index": None}
    ]
    assert _without_input_order(res["summary"]) == _without_input_order(summary)


def test_heatmap_captures_exist(tumour_run):
    doc, out, lib = tumour_run["doc"], tumour_run["out"], tumour_run["lib"]
    names = doc["dicom"]["heatmaps"]
    assert names and all((out / n).is_file() for n in names)
    sources = {s.sop_instance_uid for s in lib.slices}
    for n in names:
        sc = pydicom.dcmread(out / n)
        assert sc.PhotometricInterpretation == "RGB" and sc.pixel_array.shape == (256, 256, 3)
        assert str(sc.SourceImageSequence[0].ReferencedSOPInstanceUID) in sources
        assert lib.tumour_type in sc.SeriesDescription and "sha256:" in sc.ImageComments
    assert doc["results"]["heatmaps"][0]["label"] == lib.tumour_type


def test_the_platform_zip_runs_as_the_worker_runs_it(tumour_run, tmp_path):
    """What the inference app does with a bundled model: publish the deterministic zip of the folder
    (``packages.zip_folder``, validated with bundled=True), then run the stored zip in-process with bundled=True."""
    from medcloud.inference.packages import file_sha256, zip_folder

    zipped = zip_folder(PACKAGE, tmp_path / "ynet.zip")
    assert validate_package(zipped, bundled=True) == []
    doc = run_package(zipped, tumour_run["series_dir"], tmp_path / "out", sandbox=False, bundled=True, ran_by="job")
    assert doc["provenance"]["package_sha256"] == file_sha256(zipped)  # the stored version's SHA-256
    assert doc["results"]["labels"] == tumour_run["doc"]["results"]["labels"]
    assert doc["results"]["measurements"] == tumour_run["doc"]["results"]["measurements"]


def test_real_mr_series_says_what_the_library_says(library, ynet_data, tmp_path):
    """The real normal sagittal MPRAGE (192 slices, a scanner never seen in training): the package completes and
    reports the library's decision, whatever it is (the model card explains why it is a false positive)."""
    mr = ynet_data / "dicom" / "mr_brain_sagittal"
    doc = run_package(PACKAGE, mr, tmp_path / "out", bundled=True, ran_by="pytest")
    lib = json.loads(library.infer_series(_read_dir(mr), library.get_predictor()).to_json())
    res = doc["results"]
    assert doc["series"]["shape"][0] == lib["n_slices"] == 192
    (label,) = res["labels"]
    assert label["name"] == lib["decision"]["label"]
    assert label["confidence"] == pytest.approx(lib["decision"]["confidence"], abs=1e-5)
    areas = {m["slice_index"]: m["value"] for m in res["measurements"] if m["name"] == "Tumour area"}
    assert sorted(areas) == lib["tumour_slices"]
    for k, v in areas.items():
        assert v == pytest.approx(lib["slices"][k]["tumour_area_mm2"], abs=1e-3)
    (volume,) = [m["value"] for m in res["measurements"] if m["name"] == "Tumour volume"]
    assert volume == pytest.approx(lib["measurements"]["volume_mm3"], abs=1e-3)
    assert res["masks"][0]["voxels"]["tumour"] == sum(s["tumour_area_px"] for s in lib["slices"])
    assert doc["dicom"]["seg"] == ["seg_1.dcm"] and doc["dicom"]["sr"] == ["sr_1.dcm"]
    hd.seg.segread(tmp_path / "out" / "seg_1.dcm")
    hd.sr.srread(tmp_path / "out" / "sr_1.dcm")


def test_warm_run_on_24_slices(library, ynet_data, tmp_path):
    """Timing (printed, not asserted): the SDK run in-process on a 24-slice 256x256 series, warm."""
    from medcloud.ai.common.manifest import read_manifest

    recs = read_manifest(ynet_data / "brain_mri_cheng", splits=["val"])[:24]
    series_dir = _write_series(series_from_images([load_png(r.image_path) for r in recs]), tmp_path / "s24")
    run_package(PACKAGE, series_dir, tmp_path / "warm-up", bundled=True, ran_by="pytest")  # first call: warm-up
    runs = []
    for i in range(3):
        t0 = time.perf_counter()
        doc = run_package(PACKAGE, series_dir, tmp_path / f"out{i}", bundled=True, ran_by="pytest")
        runs.append((doc["run_s"], time.perf_counter() - t0))
    model_s = sorted(r for r, _ in runs)[1]
    total_s = sorted(t for _, t in runs)[1]
    datasets, lib_s = _read_dir(series_dir), []
    for _ in range(3):  # the library alone on the same series, same process, same predictor
        t0 = time.perf_counter()
        library.infer_series(datasets, library.get_predictor())
        lib_s.append(time.perf_counter() - t0)
    print(
        f"\nynet sdk package, 24 slices, warm (median of 3): library infer_series alone {sorted(lib_s)[1]:.2f} s;"
        f" package model run {model_s:.2f} s (infer_series + Grad-CAM + measurements), whole run_package"
        f" {total_s:.2f} s"
        f" (+ validation, series load, result checks, SEG/SR/{len(doc['dicom']['heatmaps'])} heat-map captures"
        f" written); load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
    )
    assert doc["series"]["shape"] == [24, 256, 256]
