"""The evaluation command and the cheap package import."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest

from medcloud.core.paths import REPO_ROOT


def test_import_is_cheap():
    code = (
        "import sys, medcloud.ai, medcloud.ai.ynet, medcloud.ai.ynet.config; "
        "assert 'tensorflow' not in sys.modules; assert 'django' not in sys.modules"
    )
    subprocess.run(
        [sys.executable, "-c", code], check=True, cwd=REPO_ROOT, env={"PYTHONPATH": str(REPO_ROOT / "backend")}
    )


def _subset(tmp_path, ynet_data, rows_per_label, extra=()):
    """A manifest in ../shared/data format pointing at a few validation images (absolute paths)."""
    out = tmp_path / "set"
    out.mkdir()
    rows = []
    for folder in ("brain_mri_cheng", "brain_mri_no_tumor"):
        with open(ynet_data / folder / "manifest.csv", newline="") as fh:
            for r in csv.DictReader(fh):
                if r["split"] == "val" and rows_per_label.get(r["label"], 0) > sum(
                    x["label"] == r["label"] for x in rows
                ):
                    rows.append(
                        {
                            "file": str(ynet_data / folder / r["file"]),
                            "mask_file": str(ynet_data / folder / r["mask_file"]) if r["mask_file"] else "",
                            "label": r["label"],
                            "split": "train",
                        }
                    )
    for f, label in extra:
        rows.append({"file": str(f), "mask_file": "", "label": label, "split": "val"})
    with open(out / "manifest.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, ["file", "mask_file", "label", "split"])
        w.writeheader()
        w.writerows(rows)
    return out, rows


def test_evaluate_prints_one_json_line_last(tmp_path, ynet_data, ynet_weights, capsys):
    from medcloud.ai.__main__ import main

    d, rows = _subset(tmp_path, ynet_data, {"meningioma": 3, "no_tumor": 3})
    assert main(["evaluate", "--model", "ynet", "--data", str(d)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    r = json.loads(last)
    for key in ("n_images", "accuracy", "macro_f1", "dice", "iou", "per_class"):
        assert key in r
    assert r["n_images"] == 6 and set(r["per_class"]) == {"meningioma", "no_tumor"}
    assert r["n_masks"] == 3 and 0.0 <= r["dice"] <= 1.0
    assert r["unknown_labels"] == {}


def test_unknown_labels_are_reported(tmp_path, ynet_data, ynet_weights, capsys):
    from medcloud.ai.ynet.evaluate import main

    chest = ynet_data / "chest_xray"
    extra = []
    if (chest / "manifest.csv").is_file():
        with open(chest / "manifest.csv", newline="") as fh:
            for r in list(csv.DictReader(fh))[:2]:
                extra.append((chest / r["file"], r["label"]))
    d, _ = _subset(
        tmp_path,
        ynet_data,
        {"glioma": 2},
        extra=extra or [(ynet_data / "brain_mri_cheng" / "images" / "0001.png", "pneumonia")],
    )
    assert main(["--data", str(d), "--no-tta"]) == 0
    cap = capsys.readouterr()
    r = json.loads(cap.out.strip().splitlines()[-1])
    assert r["n_images"] == 2 + max(len(extra), 1) and r["n_labelled"] == 2
    assert r["unknown_labels"] and "outside the model's classes" in cap.err


@pytest.mark.slow
def test_make_style_command_line(tmp_path, ynet_data, ynet_weights):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    d1, _ = _subset(tmp_path / "a", ynet_data, {"pituitary": 2})
    d2, _ = _subset(tmp_path / "b", ynet_data, {"no_tumor": 2})
    p = subprocess.run(
        [sys.executable, "-m", "medcloud.ai", "evaluate", "--model", "ynet", "--data", str(d1), str(d2)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT / "backend")},
    )
    assert p.returncode == 0, p.stderr[-2000:]
    r = json.loads(p.stdout.strip().splitlines()[-1])
    assert r["n_images"] == 4


def test_benchmark_runs(ynet_weights, capsys):
    from medcloud.ai.ynet.benchmark import main

    assert main(["--slices", "4", "--repeats", "1"]) == 0
    r = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert r["slices"] == 4 and r["model_load_s"] > 0 and r["peak_rss_mb"] > 0
