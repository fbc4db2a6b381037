"""validate_results refuses malformed results with a message saying what is wrong; the exchange files are read
safely."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from medcloud.sdk import (
    Box,
    HeatMap,
    InferType,
    Label,
    Mask,
    Measurement,
    ResultError,
    ResultLimits,
    Results,
    validate_results,
)
from medcloud.sdk.results import load_results, save_results


class _Series:
    shape = (4, 8, 8)


class _Task:
    def __init__(self, type_, labels):
        self.type, self.labels = type_, labels


TASKS = [
    _Task(InferType.SEGMENTATION, ("tumour", "oedema")),
    _Task(InferType.CLASSIFICATION, ("glioma", "none")),
    _Task(InferType.DETECTION, ("lesion",)),
]


def ok(**kw) -> Results:
    return validate_results(Results(**kw), _Series(), TASKS)


def refused(match: str, **kw) -> None:
    with pytest.raises(ResultError, match=match):
        validate_results(Results(**kw), _Series(), TASKS)


def test_valid_results_pass():
    mask = np.zeros((4, 8, 8), np.uint8)
    mask[1, 2:4, 2:4] = 2
    ok(
        masks=[Mask(mask, ["tumour", "oedema"])],
        labels=[Label("glioma", 0.9), Label("none", 0.1, slice_index=3)],
        measurements=[Measurement("area", 12.5, "mm2", slice_index=1)],
        boxes=[Box("lesion", 0.5, 0, 2, 1, 5, 1, 8)],
        heatmaps=[HeatMap(np.full((4, 8, 8), 0.5, np.float32), "glioma")],
        summary={"note": "fine"},
    )


def test_mask_of_wrong_shape_is_refused():
    refused(
        r"shape \(4, 8, 7\) does not match the series shape \(4, 8, 8\)",
        masks=[Mask(np.zeros((4, 8, 7), np.uint8), ["tumour"])],
    )


def test_mask_of_wrong_dtype_is_refused():
    refused("must be uint8", masks=[Mask(np.zeros((4, 8, 8), bool), ["tumour"])])


def test_mask_values_beyond_labels_are_refused():
    m = np.zeros((4, 8, 8), np.uint8)
    m[0, 0, 0] = 3
    refused("value 3 present but only 1 label", masks=[Mask(m, ["tumour"])])


def test_undeclared_labels_are_refused():
    refused(
        "label 'liver' is not declared by any segmentation task", masks=[Mask(np.zeros((4, 8, 8), np.uint8), ["liver"])]
    )
    refused("label 'tumour' is not declared by any classification task", labels=[Label("tumour", 0.5)])
    refused("not declared by any detection/localisation task", boxes=[Box("glioma", 0.5, 0, 1, 0, 1, 0, 1)])


@pytest.mark.parametrize("bad", [math.nan, math.inf, -0.1, 1.5])
def test_bad_confidences_are_refused(bad):
    refused("confidence", labels=[Label("glioma", bad)])
    refused("confidence", boxes=[Box("lesion", bad, 0, 1, 0, 1, 0, 1)])


def test_nan_confidence_message_says_nan():
    refused("NaN", labels=[Label("glioma", float("nan"))])


def test_bad_measurements_are_refused():
    refused("NaN or infinite", measurements=[Measurement("area", float("nan"), "mm2")])
    refused("not a UCUM unit", measurements=[Measurement("area", 1.0, "square millimetres")])
    refused("slice_index 9 is outside", measurements=[Measurement("area", 1.0, "mm2", slice_index=9)])


def test_bad_boxes_are_refused():
    refused(r"row range \[5, 9\) is empty or outside 0..8", boxes=[Box("lesion", 0.5, 0, 1, 5, 9, 0, 1)])
    refused(r"slice range \[2, 2\)", boxes=[Box("lesion", 0.5, 2, 2, 0, 1, 0, 1)])


def test_bad_heatmaps_are_refused():
    refused(r"must lie in \[0, 1\]", heatmaps=[HeatMap(np.full((4, 8, 8), 1.5, np.float32), "glioma")])
    refused("NaN", heatmaps=[HeatMap(np.full((4, 8, 8), np.nan, np.float32), "glioma")])
    refused("floating-point", heatmaps=[HeatMap(np.zeros((4, 8, 8), np.uint8), "glioma")])


def test_summary_must_be_plain_json():
    refused("not plain JSON", summary={"x": float("nan")})
    refused("not plain JSON", summary={"x": np.float32(1)})


def test_size_limits():
    big = [Mask(np.zeros((4, 8, 8), np.uint8), ["tumour"])] * 3
    with pytest.raises(ResultError, match="more than the limit of 100"):
        validate_results(Results(masks=big), _Series(), TASKS, ResultLimits(max_array_bytes=100))
    with pytest.raises(ResultError, match="more than the limit of 2"):
        validate_results(Results(labels=[Label("glioma", 0.5)] * 3), _Series(), TASKS, ResultLimits(max_items=2))


def test_not_results_is_refused():
    with pytest.raises(ResultError, match="must return medcloud.sdk.Results"):
        validate_results({"masks": []}, _Series(), TASKS)


def test_exchange_files_round_trip(tmp_path):
    mask = np.zeros((4, 8, 8), np.uint8)
    mask[2] = 1
    res = Results(masks=[Mask(mask, ["tumour"])], labels=[Label("glioma", 0.7)], summary={"a": 1})
    save_results(res, tmp_path)
    back = load_results(tmp_path)
    validate_results(back, _Series(), TASKS)
    assert np.array_equal(back.masks[0].array, mask) and back.labels[0].confidence == 0.7


def test_exchange_files_refuse_symlinks_and_pickles(tmp_path):
    (tmp_path / "results.json").symlink_to("/etc/passwd")
    with pytest.raises(ResultError, match="symlinks are refused"):
        load_results(tmp_path)
    (tmp_path / "results.json").unlink()
    (tmp_path / "results.json").write_text(json.dumps({"masks": [{"file": "../../etc/shadow", "labels": ["x"]}]}))
    with pytest.raises(ResultError, match="unexpected array file"):
        load_results(tmp_path)
    np.save(tmp_path / "mask_0.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (tmp_path / "results.json").write_text(json.dumps({"masks": [{"file": "mask_0.npy", "labels": ["x"]}]}))
    with pytest.raises(ResultError, match="not a plain .npy"):
        load_results(tmp_path)
