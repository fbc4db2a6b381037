"""Evaluation command (``make evaluate MODEL=ynet DATA="DIR [DIR ...]"``).

Every row of every ``DIR/manifest.csv`` is evaluated (the ``split`` column is
ignored). Prints progress to stderr and, as the LAST line of stdout, one JSON
object with at least ``n_images``, ``accuracy``, ``macro_f1``, ``dice``, ``iou``
and ``per_class`` (recall per class present in the labels).

- Classification figures use the rows whose label is one of the model's classes
  (a few common spellings are mapped, e.g. ``notumor`` -> ``no_tumor``); rows with any other
  label are still run through the model and reported under ``unknown_labels``
  (count and what the model called them), never silently dropped.
- Dice and IoU are pooled over the pixels of all images that have a tumour mask, at
  the mask's own resolution. An empty ``mask_file`` means no tumour.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medcloud.ai.runtime import AIRuntime
from medcloud.ai.ynet.config import CLASSES, MODEL_FILE
from medcloud.ai.ynet.preprocessing import NATIVE_SIZE

LABEL_ALIASES = {
    "no_tumour": "no_tumor",
    "notumor": "no_tumor",
    "no-tumor": "no_tumor",
    "no-tumour": "no_tumor",
    "no tumor": "no_tumor",
    "no tumour": "no_tumor",
    "none": "no_tumor",
    "healthy": "no_tumor",
    "glioma_tumor": "glioma",
    "meningioma_tumor": "meningioma",
    "pituitary_tumor": "pituitary",
}


def normalise_label(label: str) -> str:
    lab = label.strip().lower()
    return LABEL_ALIASES.get(lab, lab)


def _clean(v: Any) -> Any:
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if isinstance(v, (np.floating,)):
        return _clean(float(v))
    if isinstance(v, (np.integer,)):
        return int(v)
    return v


def _classifier_only(y_true: np.ndarray, y_pred: np.ndarray, names: Sequence[str]) -> dict[str, Any]:
    """Figures of the classification head alone (argmax), for comparison with the decision rule."""
    from medcloud.ai.common.metrics import classification_metrics

    known = y_true >= 0
    if not known.any():
        return {}
    m = classification_metrics(y_true[known], y_pred[known], names)
    no_idx = names.index("no_tumor")
    tum = known & (y_true != no_idx)
    nt = known & (y_true == no_idx)
    return {
        "accuracy": m["accuracy"],
        "macro_f1": m["macro_f1"],
        "tumour_type_accuracy": float(np.mean(y_pred[tum] == y_true[tum])) if tum.any() else float("nan"),
        "no_tumor_specificity": float(np.mean(y_pred[nt] == no_idx)) if nt.any() else float("nan"),
    }


def evaluate_arrays(predictor, arrays, class_names=CLASSES) -> dict[str, Any]:
    """Figures on preprocessed arrays (masks compared at the original resolution)."""
    from medcloud.ai.common.metrics import PooledOverlap, classification_metrics
    from medcloud.ai.ynet.predictor import upsample_masks

    probs, mprobs = predictor.predict_batch(arrays.images[..., None])
    pred = probs.argmax(1)
    known = arrays.labels >= 0
    res = classification_metrics(arrays.labels[known], pred[known], class_names)
    tumour = known & (arrays.labels < 3)
    res["tumour_type_accuracy"] = (
        float((pred[tumour] == arrays.labels[tumour]).mean()) if tumour.any() else float("nan")
    )
    full = upsample_masks(mprobs, [m.shape for m in arrays.full_masks])
    ov = PooledOverlap()
    small_total = small_ok = 0
    areas = np.array([m.sum() for m in arrays.full_masks])
    small_cut = float(np.percentile(areas[areas > 0], 25)) if (areas > 0).any() else 0.0
    for i, (t, p) in enumerate(zip(arrays.full_masks, full, strict=False)):
        if t.any():
            ov.update(t, p >= predictor.threshold)
            if areas[i] <= small_cut and tumour[i]:
                small_total += 1
                small_ok += int(pred[i] == arrays.labels[i])
    res["dice"], res["iou"] = ov.dice, ov.iou
    res["small_mask_cutoff_px"] = small_cut
    res["small_mask_type_accuracy"] = small_ok / small_total if small_total else float("nan")
    res["small_mask_tumour_called"] = None
    if small_total:
        idx = [i for i in range(len(areas)) if 0 < areas[i] <= small_cut and tumour[i]]
        res["small_mask_tumour_called"] = float(np.mean(pred[idx] != 3))
    res["n_images"] = int(len(arrays.labels))
    return res


def selection_score(m: dict[str, Any]) -> float:
    return float(np.mean([m["accuracy"], m["macro_f1"], m["tumour_type_accuracy"], m["dice"]]))


def evaluate_dirs(
    dirs: Sequence[str | Path],
    weights: str | Path | None = None,
    tta: bool = True,
    chunk: int = 256,
    log=None,
    sizes: Sequence[int] | None = None,
    decision: str | None = None,
) -> dict[str, Any]:
    from medcloud.ai.common.manifest import read_manifest
    from medcloud.ai.common.metrics import PooledOverlap, classification_metrics
    from medcloud.ai.ynet.data import load_arrays
    from medcloud.ai.ynet.predictor import YNetPredictor, upsample_masks

    log = log or sys.stderr
    t0 = time.time()
    predictor = YNetPredictor.from_file(weights, tta=tta, sizes=sizes, decision=decision)
    names = list(predictor.class_names)
    records = []
    for d in dirs:
        recs = read_manifest(d)
        print(f"[evaluate] {d}: {len(recs)} rows", file=log, flush=True)
        records += recs
    if not records:
        raise SystemExit("no rows to evaluate")
    for r in records:
        r.label = normalise_label(r.label)

    y_true, y_pred, probs_all, y_pred_cls = [], [], [], []
    overlap = PooledOverlap()
    areas = []
    per_image_dice = []
    for start in range(0, len(records), chunk):
        part = records[start : start + chunk]
        arr = load_arrays(part, NATIVE_SIZE)
        probs, mprobs = predictor.predict_images(arr.images)
        full = upsample_masks(mprobs, [m.shape for m in arr.full_masks])
        for rec, p, t, mp in zip(part, probs, arr.full_masks, full, strict=False):
            pred, pm = predictor.decide(p, mp)
            y_true.append(names.index(rec.label) if rec.label in names else -1)
            y_pred.append(pred)
            y_pred_cls.append(int(np.argmax(p)))
            probs_all.append(p)
            area = int(t.sum())
            areas.append(area)
            if area:
                overlap.update(t, pm)
                inter = np.count_nonzero(pm & t.astype(bool))
                per_image_dice.append(2 * inter / (area + np.count_nonzero(pm)))
        print(
            f"[evaluate] {min(start + chunk, len(records))}/{len(records)} images, {time.time() - t0:.0f}s",
            file=log,
            flush=True,
        )

    y_true_a, y_pred_a, areas_a = np.array(y_true), np.array(y_pred), np.array(areas)
    known = y_true_a >= 0
    cls = (
        classification_metrics(y_true_a[known], y_pred_a[known], names)
        if known.any()
        else {"accuracy": float("nan"), "macro_f1": float("nan"), "per_class": {}, "confusion_matrix": []}
    )
    present = [n for n in names if n in cls["per_class"]]
    no_idx = names.index("no_tumor")
    tumour = known & (y_true_a != no_idx)
    unknown: dict[str, dict[str, Any]] = {}
    for rec, p in zip(records, y_pred, strict=False):
        if rec.label not in names:
            u = unknown.setdefault(rec.label or "<empty>", {"n": 0, "predicted": {}})
            u["n"] += 1
            u["predicted"][names[p]] = u["predicted"].get(names[p], 0) + 1
    if unknown:
        print(
            f"[evaluate] WARNING: {sum(u['n'] for u in unknown.values())} rows have labels outside the model's "
            f"classes {names}: {sorted(unknown)}; excluded from accuracy/F1, reported under unknown_labels",
            file=log,
            flush=True,
        )
    # small-tumour check: tumour slices whose mask is in the smallest quartile of mask areas
    small = {}
    with_mask = areas_a > 0
    if (tumour & with_mask).any():
        cut = float(np.percentile(areas_a[tumour & with_mask], 25))
        sel = tumour & with_mask & (areas_a <= cut)
        small = {
            "max_mask_area_px": cut,
            "n": int(sel.sum()),
            "called_tumour": float(np.mean(y_pred_a[sel] != no_idx)),
            "type_accuracy": float(np.mean(y_pred_a[sel] == y_true_a[sel])),
        }
    result = {
        "model": "ynet",
        "weights": str(Path(weights) if weights else MODEL_FILE),
        "data": [str(d) for d in dirs],
        "tta": tta,
        "decision": predictor.decision,
        "classifier_only": _classifier_only(np.array(y_true), np.array(y_pred_cls), names),
        "postprocessing": {
            "min_tumour_frac": predictor.min_tumour_frac,
            "sizes": predictor.sizes,
            "threshold": predictor.threshold,
            "largest_component": predictor.largest_component,
            "gate_by_class": predictor.gate_by_class,
        },
        "n_images": len(records),
        "n_labelled": int(known.sum()),
        "n_masks": int(with_mask.sum()),
        "accuracy": cls["accuracy"],
        "macro_f1": cls["macro_f1"],
        "tumour_type_accuracy": float(np.mean(y_pred_a[tumour] == y_true_a[tumour])) if tumour.any() else float("nan"),
        "tumour_vs_no_tumour_accuracy": float(np.mean((y_pred_a[known] == no_idx) == (y_true_a[known] == no_idx)))
        if known.any()
        else float("nan"),
        "no_tumor_specificity": float(np.mean(y_pred_a[known & (y_true_a == no_idx)] == no_idx))
        if (known & (y_true_a == no_idx)).any()
        else float("nan"),
        "dice": overlap.dice,
        "iou": overlap.iou,
        "mean_dice_per_image": float(np.mean(per_image_dice)) if per_image_dice else float("nan"),
        "per_class": {n: cls["per_class"][n]["recall"] for n in present},
        "per_class_detail": {n: cls["per_class"][n] for n in present},
        "confusion_matrix": {"labels": names, "rows_true_cols_pred": cls["confusion_matrix"]},
        "small_tumour_check": small,
        "unknown_labels": unknown,
        "seconds": round(time.time() - t0, 1),
    }
    return _clean(result)


def main(argv: list[str] | None = None, runtime: AIRuntime | None = None) -> int:
    runtime = runtime or AIRuntime.from_environ()
    p = argparse.ArgumentParser("medcloud.ai evaluate --model ynet")
    p.add_argument("--data", nargs="+", required=True, help="folders holding a manifest.csv")
    p.add_argument("--weights", default=None, help=f"model file (default $MEDCLOUD_YNET_WEIGHTS, else {MODEL_FILE})")
    p.add_argument("--no-tta", action="store_true", help="disable horizontal-flip test-time augmentation")
    p.add_argument(
        "--decision",
        choices=("classifier", "classifier_and_mask"),
        default=None,
        help="slice decision rule (default: from ynet.json)",
    )
    p.add_argument("--out", default=None, help="also write the JSON to this file")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--sizes", type=int, nargs="+", default=None, help="input sizes for multi-scale TTA (default: from ynet.json)"
    )
    p.add_argument("--model", default="ynet")
    args = p.parse_args(argv)
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass
    for d in args.data:
        if not (Path(d) / "manifest.csv").is_file():
            print(f"[evaluate] error: {d} has no manifest.csv", file=sys.stderr)
            return 2
    weights = args.weights or runtime.weights_for("ynet")
    res = evaluate_dirs(args.data, weights, tta=not args.no_tta, sizes=args.sizes, decision=args.decision)
    line = json.dumps(res, sort_keys=False)
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=2) + "\n")
    sys.stdout.flush()
    print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
