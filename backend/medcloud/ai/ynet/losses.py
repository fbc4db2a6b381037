"""Losses and metrics of the Y-Net.

- Classification: class-weighted focal cross-entropy with label smoothing.
- Segmentation: binary cross-entropy + soft Dice pooled over the batch (the
  no-tumour images have empty masks: pooling over the batch keeps the Dice term
  defined and still penalises false positives on them).
- NumPy metrics used by training selection and by ``evaluate``: accuracy,
  macro F1, confusion matrix, pooled Dice and IoU.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="medcloud_ynet")
class FocalCrossentropy(keras.losses.Loss):
    """Categorical focal cross-entropy on one-hot targets, with label smoothing and class weights."""

    def __init__(
        self,
        gamma: float = 1.0,
        label_smoothing: float = 0.0,
        class_weights: Sequence[float] | None = None,
        name: str = "focal_ce",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        self.gamma = float(gamma)
        self.label_smoothing = float(label_smoothing)
        self.class_weights = list(class_weights) if class_weights is not None else None

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, y_pred.dtype)
        n = ops.cast(ops.shape(y_true)[-1], y_pred.dtype)
        if self.label_smoothing:
            y_true = y_true * (1.0 - self.label_smoothing) + self.label_smoothing / n
        p = ops.clip(y_pred, 1e-7, 1.0 - 1e-7)
        ce = -y_true * ops.log(p)
        if self.gamma:
            ce = ce * ops.power(1.0 - p, self.gamma)
        if self.class_weights is not None:
            ce = ce * ops.convert_to_tensor(self.class_weights, dtype=ce.dtype)
        return ops.sum(ce, axis=-1)

    def get_config(self):
        return {
            **super().get_config(),
            "gamma": self.gamma,
            "label_smoothing": self.label_smoothing,
            "class_weights": self.class_weights,
        }


@keras.saving.register_keras_serializable(package="medcloud_ynet")
class DiceBCELoss(keras.losses.Loss):
    """``bce_weight * BCE + dice_weight * (1 - soft Dice)``, Dice pooled over the whole batch."""

    def __init__(
        self, bce_weight: float = 1.0, dice_weight: float = 1.0, smooth: float = 1.0, name: str = "dice_bce", **kwargs
    ):
        kwargs["reduction"] = "sum_over_batch_size"
        super().__init__(name=name, **kwargs)
        self.bce_weight = float(bce_weight)
        self.dice_weight = float(dice_weight)
        self.smooth = float(smooth)

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "float32")
        y_pred = ops.cast(y_pred, "float32")
        p = ops.clip(y_pred, 1e-6, 1.0 - 1e-6)
        bce = -(y_true * ops.log(p) + (1.0 - y_true) * ops.log(1.0 - p))
        bce = ops.mean(bce, axis=[1, 2, 3])
        inter = ops.sum(y_true * y_pred)
        denom = ops.sum(y_true) + ops.sum(y_pred)
        dice = (2.0 * inter + self.smooth) / (denom + self.smooth)
        # per-sample vector so the reduction works; the Dice term is shared by the batch
        return self.bce_weight * bce + self.dice_weight * (1.0 - dice)

    def get_config(self):
        return {
            **super().get_config(),
            "bce_weight": self.bce_weight,
            "dice_weight": self.dice_weight,
            "smooth": self.smooth,
        }


def class_weights_from_counts(counts: Sequence[int], power: float = 0.5) -> list[float]:
    """Inverse-frequency weights softened by ``power`` and normalised to mean 1."""
    c = np.maximum(np.asarray(counts, dtype=np.float64), 1.0)
    w = (c.sum() / c) ** power
    w = w / w.mean()
    return [float(v) for v in w]


# ---------------------------------------------------------------------------
# NumPy metrics
# ---------------------------------------------------------------------------


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
