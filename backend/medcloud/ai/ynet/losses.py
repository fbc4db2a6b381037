"""Losses of the Y-Net.

- Classification: class-weighted focal cross-entropy with label smoothing.
- Segmentation: binary cross-entropy + soft Dice pooled over the batch (the
  no-tumour images have empty masks: pooling over the batch keeps the Dice term
  defined and still penalises false positives on them).

The NumPy metrics (accuracy, macro F1, confusion matrix, pooled Dice and IoU)
are in ``metrics``.
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
