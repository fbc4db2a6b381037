"""The local runner: the template checked and run on the real MR series, its SEG and SR read back by highdicom."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest

from medcloud.sdk.runner import run_package
from medcloud.sdk.series import load_series
from medcloud.sdk.validate import package_sha256

BACKEND = Path(__file__).resolve().parents[2] / "backend"
needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")


def cli(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(BACKEND)}
    return subprocess.run(
        [sys.executable, "-m", "medcloud.sdk", *args], capture_output=True, text=True, env=env, timeout=timeout
    )


def check_outputs(out: Path, series_dir: Path, template_dir: Path, ran_by: str, sha: str | None = None) -> None:
    series = load_series(series_dir)
    doc = json.loads((out / "results.json").read_text())
    prov = doc["provenance"]
    sha = sha or package_sha256(template_dir)
    assert prov["model_name"] == "threshold-template" and prov["model_version"] == "1.0.0"
    assert prov["package_sha256"] == sha and prov["ran_by"] == ran_by and prov["ran_at"]
    assert doc["dicom"]["seg"] == ["seg_1.dcm"] and doc["dicom"]["sr"] == ["sr_1.dcm"]

    seg = hd.seg.segread(out / "seg_1.dcm")
    assert seg.SegmentationType == "BINARY" and seg.number_of_segments == 1
    assert seg.get_segment_description(1).segment_label == "foreground"
    refs = {str(r.ReferencedSOPInstanceUID) for r in seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence}
    assert refs == set(series.sop_instance_uids), "the SEG must reference every source instance of the series"
    frame_sources = [
        str(f.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID)
        for f in seg.PerFrameFunctionalGroupsSequence
    ]
    assert set(frame_sources) <= set(series.sop_instance_uids) and frame_sources, "frames reference source slices"
    assert str(seg.ReferencedSeriesSequence[0].SeriesInstanceUID) == series.series_instance_uid
    algo = seg.SegmentSequence[0].SegmentationAlgorithmIdentificationSequence[0]
    assert algo.AlgorithmName == "threshold-template" and sha in algo.AlgorithmParameters, "SEG provenance"
    # the mask read back equals the volume's voxel count in results.json
    assert int(seg.pixel_array.sum()) == doc["results"]["masks"][0]["voxels"]["foreground"]

    sr = pydicom.dcmread(out / "sr_1.dcm")
    assert sr.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.34", "a Comprehensive 3D SR"
    text = str(sr) + "\n".join(str(e.value) for e in sr.iterall() if e.VR in ("UT", "LO", "SH", "PN", "ST", "LT"))
    assert sha[:16] in text and "threshold-template" in text and ran_by in text, "SR provenance (algorithm, observer)"
    assert "Foreground volume" in text and ("bright" in text or "dim" in text)
    hd.sr.srread(out / "sr_1.dcm")


def test_template_in_process(template_dir, mr_small, tmp_path):
    out = tmp_path / "out"
    doc = run_package(template_dir, mr_small, out, ran_by="dr.who")
    check_outputs(out, mr_small, template_dir, "dr.who")
    assert doc["results"]["labels"][0]["name"] in ("bright", "dim")
    assert not (template_dir / "__pycache__").exists(), "running in-process wrote into the package folder"


@needs_bwrap
def test_template_zip_sandboxed(template_dir, mr_small, tmp_path):
    z = tmp_path / "template.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(template_dir.iterdir()):
            if p.is_file():
                zf.write(p, p.name)
    out = tmp_path / "out"
    doc = run_package(z, mr_small, out, sandbox=True, ran_by="researcher")
    assert doc["sandboxed"] is True
    check_outputs(out, mr_small, template_dir, "researcher", sha=package_sha256(z))


def test_cli_check(template_dir, make_package):
    ok = cli("check", str(template_dir))
    assert ok.returncode == 0 and ok.stdout == "", ok.stdout + ok.stderr
    bad = make_package("class App:\n    pass\n")
    res = cli("check", str(bad))
    assert res.returncode == 1
    assert "main.py:0: no class inheriting Application" in res.stdout, res.stdout


@needs_bwrap
@pytest.mark.slow
def test_cli_run_full_mr_series_sandboxed(template_dir, mr_full, tmp_path):
    out = tmp_path / "out"
    res = cli(
        "run", str(template_dir), "--series", str(mr_full), "--out", str(out), "--sandbox", "--ran-by", "cli-user"
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "[100.0%] done" in res.stderr, "progress is printed"
    check_outputs(out, mr_full, template_dir, "cli-user")
    assert hd.seg.segread(out / "seg_1.dcm").NumberOfFrames > 100


def test_cli_run_refuses_invalid_package(make_package, mr_small, tmp_path):
    pkg = make_package(requirements='["definitely-not-installed-xyz"]')
    res = cli("run", str(pkg), "--series", str(mr_small), "--out", str(tmp_path / "out"))
    assert res.returncode == 1 and "model.toml:5: requirement 'definitely-not-installed-xyz'" in res.stdout, res.stdout
    assert not (tmp_path / "out").exists(), "nothing is written for a refused package"


HEAT_MAIN = """
import numpy as np

from medcloud.sdk import Application, Box, HeatMap, InferTask, InferType, Results


class Find(InferTask):
    type = InferType.DETECTION
    labels = ("spot",)


class App(Application):
    tasks = [Find]

    def run(self, series, context):
        v = series.volume
        heat = ((v - v.min()) / max(float(v.max() - v.min()), 1e-6)).astype(np.float32)
        return Results(heatmaps=[HeatMap(heat, "spot")], boxes=[Box("spot", 0.8, 2, 5, 10, 60, 20, 90)])
"""


def test_heatmaps_and_boxes_become_captures_and_sr(make_package, mr_small, tmp_path):
    pkg = make_package(HEAT_MAIN, tasks='["Find"]', requirements='["numpy"]')
    out = tmp_path / "out"
    doc = run_package(pkg, mr_small, out, ran_by="tester")
    captures = doc["dicom"]["heatmaps"]
    assert len(captures) == 12, f"one secondary capture per slice with a visible map, got {captures}"
    series = load_series(mr_small)
    from medcloud.sdk.outputs import overlay_rgb

    v = series.volume
    heat = ((v - v.min()) / max(float(v.max() - v.min()), 1e-6)).astype(np.float32)
    seen = set()
    for name in captures:  # every capture its own instance, its own slice's pixels and source reference
        sc = pydicom.dcmread(out / name)
        assert sc.PhotometricInterpretation == "RGB" and sc.SamplesPerPixel == 3
        assert (sc.Rows, sc.Columns) == (256, 256)
        k = series.sop_instance_uids.index(str(sc.SourceImageSequence[0].ReferencedSOPInstanceUID))
        assert sc.InstanceNumber == k + 1 and (sc.pixel_array == overlay_rgb(v[k], heat[k])).all()
        assert "sha256:" in sc.ImageComments and "tester" in sc.ImageComments, "provenance on each capture"
        seen.add((str(sc.SOPInstanceUID), str(sc.file_meta.MediaStorageSOPInstanceUID), k))
    assert len({uid for uid, _, _ in seen}) == len({k for _, _, k in seen}) == len(captures)
    assert all(uid == meta for uid, meta, _ in seen)
    assert len({str(pydicom.dcmread(out / n).SeriesInstanceUID) for n in captures}) == 1
    sr = hd.sr.srread(out / "sr_1.dcm")
    texts = [str(e.value) for e in sr.iterall() if e.keyword == "TextValue"]
    graphic = [str(e.value) for e in sr.iterall() if e.keyword == "GraphicType"]
    assert "Box 1 spot slices 3-5" in texts and "POLYLINE" in graphic, "the box is an SR planar ROI"


def test_the_seg_comes_with_a_rendered_overlay_for_viewers_without_seg(tmp_path):
    """Each slice with a labelled voxel gets an RGB secondary capture: the slice in grey, the label tinted and
    outlined in red, referencing its source slice and naming the model's provenance."""
    import numpy as np
    import pydicom

    from medcloud.ai.common.synthetic import series_from_images
    from medcloud.sdk.outputs import Provenance, build_mask_overlay_captures, mask_overlay_rgb
    from medcloud.sdk.series import load_series

    images = [np.full((32, 32), 100, np.uint8) for _ in range(3)]
    folder = tmp_path / "s"
    folder.mkdir()
    for i, ds in enumerate(series_from_images(images)):
        ds.save_as(folder / f"{i}.dcm", enforce_file_format=True)
    series = load_series(folder)
    mask = np.zeros(series.shape, np.uint8)
    mask[1, 8:16, 8:16] = 1
    provenance = Provenance("m", "1", "ab" * 32, "tester")
    (capture,) = build_mask_overlay_captures(series, mask, ["lesion"], provenance)
    assert capture.Modality == "OT" and capture.PhotometricInterpretation == "RGB"
    assert capture.SourceImageSequence[0].ReferencedSOPInstanceUID == series.sop_instance_uids[1]
    assert "ab" * 6 in capture.ImageComments and "lesion" in capture.ImageComments
    rgb = mask_overlay_rgb(series.volume[1], mask[1])
    assert tuple(rgb[8, 8]) == (255, 0, 0)  # the outline, opaque red
    assert rgb[12, 12, 0] > rgb[12, 12, 1] and rgb[0, 0, 0] == rgb[0, 0, 1]  # tinted inside, grey outside
    path = tmp_path / "overlay.dcm"
    capture.save_as(path, enforce_file_format=True)
    assert pydicom.dcmread(path).pixel_array.shape == (32, 32, 3)
