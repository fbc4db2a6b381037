"""Does the classifier see the tumour, or the scanner? Two checks on the val split.

1. Small tumours: on tumour slices whose mask is in the smallest quartile of
   areas, how often the model still says "tumour" and gets the type right.
   A model that only recognised the source (Cheng vs Br35H) would call every
   Cheng slice a tumour whatever its size, but its masks would miss small ones:
   so we report the rate together with the Dice on those slices.
2. Tumour removed: every val tumour slice with its tumour (mask dilated by
   5 px) filled with the median intensity of a ring around it and smoothed.
   The image keeps its scanner, sequence and intensity profile but has no tumour left. A
   model that recognises the source keeps saying "tumour"; one that looks at
   the tumour moves towards "no tumour". Reported: the fraction now called no
   tumour, and the mean drop of the tumour probability. This median fill is
   *not* the erasure used in training (``data.erase_tumour``: mirrored healthy
   tissue), so the check is not passed by learning the training trick; the
   training method is reported beside it.
3. A real normal series from another scanner (``dicom/mr_brain_sagittal``,
   T1 MPRAGE without contrast, a healthy brain): how many slices, and which
   series decision, the DICOM inference gives.

    python -m medcloud.ai.ynet.confound [--weights ...]   (prints one JSON line)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from medcloud.ai.runtime import AIRuntime


def remove_tumour(img01: np.ndarray, mask: np.ndarray, dilate: int = 5, ring: int = 6) -> np.ndarray:
    from scipy import ndimage

    m = ndimage.binary_dilation(mask.astype(bool), iterations=dilate)
    outer = ndimage.binary_dilation(m, iterations=ring) & ~m & (img01 > 0.02)
    fill = float(np.median(img01[outer])) if outer.any() else float(np.median(img01[img01 > 0.02]))
    out = img01.copy()
    out[m] = fill
    smooth = ndimage.gaussian_filter(out, 2.0)
    edge = ndimage.binary_dilation(m, iterations=2)
    out[edge] = smooth[edge]
    return out


def run(weights=None, decision: str | None = None, *, data_dir: Path) -> dict:
    from medcloud.ai.common.manifest import read_manifest
    from medcloud.ai.common.metrics import PooledOverlap
    from medcloud.ai.ynet.data import load_arrays
    from medcloud.ai.ynet.predictor import YNetPredictor, upsample_masks

    pred = YNetPredictor.from_file(weights, decision=decision)
    recs = read_manifest(Path(data_dir) / "brain_mri_cheng", splits=["val"])
    arr = load_arrays(recs, 256)
    no_idx = pred.class_names.index("no_tumor")

    def predict(images):
        probs, mprobs = pred.predict_images(images)
        full = upsample_masks(mprobs, [(256, 256)] * len(images))
        dec = [pred.decide(p, m) for p, m in zip(probs, full, strict=False)]
        return probs, np.array([d[0] for d in dec]), [d[1] for d in dec]

    probs, y, masks = predict(arr.images)
    y_cls = probs.argmax(1)
    areas = np.array([m.sum() for m in arr.full_masks])
    cut = float(np.percentile(areas, 25))
    small = areas <= cut
    ov = PooledOverlap()
    for i in np.nonzero(small)[0]:
        ov.update(arr.full_masks[i], masks[i])
    removed = np.stack([remove_tumour(img, m) for img, m in zip(arr.images, arr.full_masks, strict=False)])
    probs_r, y_r, masks_r = predict(removed)
    from medcloud.ai.ynet.data import erase_tumour

    mirrored = np.stack(
        [erase_tumour(img, m, seed=i) for i, (img, m) in enumerate(zip(arr.images, arr.full_masks, strict=False))]
    )
    probs_m, y_m, _ = predict(mirrored)
    return {
        "decision": pred.decision,
        "n_tumour_slices": int(len(recs)),
        "small_tumours": {
            "max_area_px": cut,
            "n": int(small.sum()),
            "called_tumour": float(np.mean(y[small] != no_idx)),
            "type_accuracy": float(np.mean(y[small] == arr.labels[small])),
            "classifier_only_called_tumour": float(np.mean(y_cls[small] != no_idx)),
            "dice_pooled": ov.dice,
        },
        "all_tumours_called_tumour": float(np.mean(y != no_idx)),
        "tumour_removed": {
            "called_no_tumour": float(np.mean(y_r == no_idx)),
            "classifier_only_called_no_tumour": float(np.mean(probs_r.argmax(1) == no_idx)),
            "mask_empty": float(np.mean([m.sum() == 0 for m in masks_r])),
            "mean_p_tumour_before": float(np.mean(1 - probs[:, no_idx])),
            "mean_p_tumour_after": float(np.mean(1 - probs_r[:, no_idx])),
        },
        "tumour_erased_training_method": {
            "called_no_tumour": float(np.mean(y_m == no_idx)),
            "mean_p_tumour_after": float(np.mean(1 - probs_m[:, no_idx])),
        },
        "normal_series": normal_series(pred, data_dir),
    }


def normal_series(pred, data_dir: Path) -> dict | None:
    """The DICOM inference on the real normal MR series (None when the data folder has no such series)."""
    import pydicom

    from medcloud.ai.ynet.inference import infer_series

    folder = Path(data_dir) / "dicom" / "mr_brain_sagittal"
    files = sorted(folder.glob("*.dcm"))
    if not files:
        return None
    result = infer_series([pydicom.dcmread(f) for f in files], predictor=pred).summary()
    return {
        "series": folder.name,
        "n_slices": result["n_slices"],
        "tumour_slices": len(result["tumour_slices"]),
        "decision": result["decision"],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser("python -m medcloud.ai.ynet.confound")
    p.add_argument("--weights", default=None)
    p.add_argument("--out", default=None)
    p.add_argument("--decision", choices=("classifier", "classifier_and_mask"), default=None)
    args = p.parse_args(argv)
    runtime = AIRuntime.from_environ()
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(2)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass
    r = run(args.weights or runtime.weights_for("ynet"), args.decision, data_dir=runtime.data_dir)
    if args.out:
        Path(args.out).write_text(json.dumps(r, indent=2) + "\n")
    print(json.dumps(r))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
