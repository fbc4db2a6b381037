"""Choose the mask post-processing on the val split and store it in the model's metadata.

    python -m medcloud.ai.ynet.calibrate [--weights backend/medcloud/ai/ynet/weights/ynet.keras]

For each set of input sizes (the trained size, and that plus a 1.25x larger one),
one flip-TTA prediction of every val image, then a grid over the mask threshold,
keeping only the largest connected component or not, and emptying the mask of
slices classified as no tumour or not; the setting with the best pooled val Dice
is kept; the sizes are chosen on the mean of val accuracy, macro F1, tumour-type
accuracy and that Dice. Written to ``ynet.json`` under ``postprocessing``.
Run by ``train`` after export; only ``val`` is used (never the sealed split).
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import numpy as np

from medcloud.ai.runtime import AIRuntime
from medcloud.ai.ynet.config import MODEL_FILE

THRESHOLDS = (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55)


def calibrate(
    weights: str | Path | None = None,
    write: bool = True,
    size_options=None,
    decision: str = "classifier",
    *,
    data_dir: Path,
) -> dict:
    from medcloud.ai.common.metrics import PooledOverlap, classification_metrics
    from medcloud.ai.ynet.data import load_split
    from medcloud.ai.ynet.export import load_metadata
    from medcloud.ai.ynet.predictor import YNetPredictor, postprocess_mask, upsample_masks
    from medcloud.ai.ynet.preprocessing import NATIVE_SIZE

    t0 = time.time()
    path = Path(weights) if weights else MODEL_FILE
    pred = YNetPredictor.from_file(path, tta=True, metadata={})
    base = pred.image_size
    size_options = size_options or [[base], [base, base + base // 4]]
    val = load_split("val", NATIVE_SIZE, data_dir)
    with_mask = [i for i, m in enumerate(val.full_masks) if m.any()]
    tumour = (val.labels >= 0) & (val.labels < 3)
    options = []
    for sizes in size_options:
        pred.sizes = list(sizes)
        probs, mprobs = pred.predict_images(val.images)
        full = upsample_masks(mprobs, [m.shape for m in val.full_masks])
        y = probs.argmax(1)
        cls = classification_metrics(val.labels, y, pred.class_names)
        tt = float(np.mean(y[tumour] == val.labels[tumour]))
        grid = []
        for thr, lcc, gate in itertools.product(THRESHOLDS, (False, True), (False, True)):
            ov = PooledOverlap()
            for i in with_mask:
                ov.update(val.full_masks[i], postprocess_mask(full[i], probs[i], thr, lcc, gate, pred.class_names))
            grid.append(
                {"threshold": thr, "largest_component": lcc, "gate_by_class": gate, "dice": ov.dice, "iou": ov.iou}
            )
        best = max(grid, key=lambda g: (round(g["dice"], 4), g["threshold"] == 0.5, not g["largest_component"]))
        score = float(np.mean([cls["accuracy"], cls["macro_f1"], tt, best["dice"]]))
        options.append(
            {
                "sizes": list(sizes),
                "accuracy": cls["accuracy"],
                "macro_f1": cls["macro_f1"],
                "tumour_type_accuracy": tt,
                "best": best,
                "score": score,
                "grid": grid,
                "_probs": probs,
                "_full": full,
            }
        )
        print(
            f"[calibrate] sizes {sizes}: acc {cls['accuracy']:.4f} f1 {cls['macro_f1']:.4f} type {tt:.4f} "
            f"dice {best['dice']:.4f} ({best['threshold']}, lcc {best['largest_component']}, "
            f"gate {best['gate_by_class']})",
            flush=True,
        )
    chosen = max(options, key=lambda o: (round(o["score"], 4), -len(o["sizes"])))
    b = chosen["best"]
    # the two decision rules with the chosen post-processing (figures stored; the rule is an argument)
    pred.sizes, pred.threshold = chosen["sizes"], b["threshold"]
    pred.largest_component, pred.gate_by_class = b["largest_component"], b["gate_by_class"]
    rules = {}
    for rule in ("classifier", "classifier_and_mask"):
        dec = [pred.decide(p, m, rule) for p, m in zip(chosen["_probs"], chosen["_full"], strict=False)]
        y = np.array([d[0] for d in dec])
        cls = classification_metrics(val.labels, y, pred.class_names)
        ov = PooledOverlap()
        for i in with_mask:
            ov.update(val.full_masks[i], dec[i][1])
        rules[rule] = {
            "accuracy": cls["accuracy"],
            "macro_f1": cls["macro_f1"],
            "tumour_type_accuracy": float(np.mean(y[tumour] == val.labels[tumour])),
            "dice": ov.dice,
            "iou": ov.iou,
        }
        print(
            f"[calibrate] decision {rule}: " + json.dumps({k: round(v, 4) for k, v in rules[rule].items()}), flush=True
        )
    out = {
        "postprocessing": {
            "sizes": chosen["sizes"],
            "threshold": b["threshold"],
            "decision": decision,
            "min_tumour_frac": pred.min_tumour_frac,
            "largest_component": b["largest_component"],
            "gate_by_class": b["gate_by_class"],
        },
        "decision_rules_val": rules,
        "postprocessing_val": {
            "dice": b["dice"],
            "iou": b["iou"],
            "n_masks": len(with_mask),
            "options": [{k: v for k, v in o.items() if k != "grid" and not k.startswith("_")} for o in options],
            "grid": chosen["grid"],
        },
        "seconds": round(time.time() - t0, 1),
    }
    if write:
        meta = load_metadata(path)
        meta.update({k: out[k] for k in ("postprocessing", "postprocessing_val", "decision_rules_val")})
        path.with_suffix(".json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser("python -m medcloud.ai.ynet.calibrate")
    p.add_argument("--weights", default=None)
    p.add_argument("--dry-run", action="store_true")
    p.add_argument(
        "--decision",
        choices=("classifier", "classifier_and_mask"),
        default="classifier",
        help="slice decision rule written to ynet.json",
    )
    args = p.parse_args(argv)
    runtime = AIRuntime.from_environ()
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(2)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass
    out = calibrate(
        args.weights or runtime.weights_for("ynet"),
        write=not args.dry_run,
        decision=args.decision,
        data_dir=runtime.data_dir,
    )
    for g in out["postprocessing_val"]["grid"]:
        print(
            f"thr {g['threshold']:.2f} lcc {g['largest_component']!s:5} gate {g['gate_by_class']!s:5} "
            f"dice {g['dice']:.4f} iou {g['iou']:.4f}"
        )
    print(
        json.dumps(
            {
                "postprocessing": out["postprocessing"],
                "dice": out["postprocessing_val"]["dice"],
                "iou": out["postprocessing_val"]["iou"],
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
