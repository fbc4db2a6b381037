"""NumPy metrics (no TensorFlow): accuracy, macro F1, confusion matrix, pooled Dice and IoU.

Used by the training loop's val selection, the post-training calibration and the
evaluation command.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n: int) -> np.ndarray:
    cm = np.zeros((n, n), dtype=np.int64)
    for t, p in zip(y_true, y_pred, strict=False):
        if 0 <= t < n:
            cm[t, p] += 1
    return cm


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str]) -> dict:
    """Accuracy, macro F1 (over the classes present in ``y_true``), recall and precision per class."""
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    n = len(class_names)
    cm = confusion_matrix(y_true, y_pred, n)
    total = cm.sum()
    acc = float(np.trace(cm) / total) if total else float("nan")
    per_class, f1s = {}, []
    for i, name in enumerate(class_names):
        support = int(cm[i].sum())
        if support == 0:
            continue
        tp = cm[i, i]
        rec = tp / support
        pred_i = cm[:, i].sum()
        prec = tp / pred_i if pred_i else 0.0
        f1 = 2 * prec * rec / (prec + rec) if (prec + rec) else 0.0
        per_class[name] = {"recall": float(rec), "precision": float(prec), "f1": float(f1), "support": support}
        f1s.append(f1)
    return {
        "accuracy": acc,
        "macro_f1": float(np.mean(f1s)) if f1s else float("nan"),
        "per_class": per_class,
        "confusion_matrix": cm.tolist(),
    }


class PooledOverlap:
    """Accumulates pixel counts for Dice and IoU pooled over many images."""

    def __init__(self) -> None:
        self.inter = 0
        self.pred = 0
        self.true = 0

    def update(self, true_mask: np.ndarray, pred_mask: np.ndarray) -> None:
        t = np.asarray(true_mask, dtype=bool)
        p = np.asarray(pred_mask, dtype=bool)
        self.inter += int(np.count_nonzero(t & p))
        self.pred += int(np.count_nonzero(p))
        self.true += int(np.count_nonzero(t))

    @property
    def dice(self) -> float:
        d = self.pred + self.true
        return float(2 * self.inter / d) if d else float("nan")

    @property
    def iou(self) -> float:
        u = self.pred + self.true - self.inter
        return float(self.inter / u) if u else float("nan")


def dice_iou(true_mask: np.ndarray, pred_mask: np.ndarray) -> tuple[float, float]:
    o = PooledOverlap()
    o.update(true_mask, pred_mask)
    return o.dice, o.iou
