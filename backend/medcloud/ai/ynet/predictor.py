"""Array-level Y-Net inference: batches in, class probabilities and mask probabilities out.

Used by training (validation), ``evaluate`` and the DICOM series inference.
Test-time augmentation: the horizontal flip (predictions averaged).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from medcloud.ai.ynet.preprocessing import probs_to_size, to_model_input


class YNetPredictor:
    """Wraps a loaded Y-Net with its preprocessing and post-processing."""

    def __init__(self, model=None, tta: bool = True, batch_size: int = 24, threshold: float = 0.5):
        if model is None:
            from medcloud.ai.ynet.export import load_model

            model = load_model()
        self.model = model
        self.tta = tta
        self.batch_size = batch_size
        self.threshold = threshold
        self.image_size = int(model.input_shape[1])
        self.class_names = list(getattr(model, "class_names", None) or [])
        if not self.class_names:
            from medcloud.ai.ynet.config import CLASSES

            self.class_names = list(CLASSES)
        self._fn = None

    @classmethod
    def from_file(cls, path: str | Path | None = None, **kwargs) -> "YNetPredictor":
        from medcloud.ai.ynet.export import load_model

        return cls(load_model(path), **kwargs)

    def _forward(self, x: np.ndarray):
        import tensorflow as tf

        if self._fn is None:
            model = self.model

            @tf.function(reduce_retracing=True)
            def fn(batch):
                out = model(batch, training=False)
                return out["class"], out["mask"]

            self._fn = fn
        c, m = self._fn(tf.convert_to_tensor(x))
        return c.numpy(), m.numpy()

    def predict_batch(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``x`` (N, S, S, 1) preprocessed -> (class probs (N, C), mask probs (N, S, S))."""
        probs, masks = [], []
        for i in range(0, len(x), self.batch_size):
            xb = x[i : i + self.batch_size]
            if self.tta:
                both = np.concatenate([xb, xb[:, :, ::-1]], axis=0)
                c, m = self._forward(both)
                n = len(xb)
                c = (c[:n] + c[n:]) / 2.0
                m = (m[:n] + m[n:, :, ::-1]) / 2.0
            else:
                c, m = self._forward(xb)
            probs.append(c)
            masks.append(m[..., 0])
        if not probs:
            s = self.image_size
            return np.zeros((0, len(self.class_names)), np.float32), np.zeros((0, s, s), np.float32)
        return np.concatenate(probs), np.concatenate(masks)

    def predict_slices(self, slices: Sequence[np.ndarray], normalized: bool = False):
        """2-D slices of any size -> (class probs (N, C), list of mask probabilities at each slice's size)."""
        x = to_model_input(slices, self.image_size, normalized=normalized)
        probs, masks = self.predict_batch(x)
        full = [probs_to_size(m, np.asarray(s).shape[:2]) for m, s in zip(masks, slices)]
        return probs, full


def upsample_masks(mask_probs: np.ndarray, shapes: Sequence[tuple[int, int]]) -> list[np.ndarray]:
    """Resize model-size mask probabilities back to each image's shape (batched per shape)."""
    import tensorflow as tf

    out: list[np.ndarray | None] = [None] * len(shapes)
    by_shape: dict[tuple[int, int], list[int]] = {}
    for i, s in enumerate(shapes):
        by_shape.setdefault(tuple(s), []).append(i)
    for (h, w), idx in by_shape.items():
        if h == w:
            for j in range(0, len(idx), 64):
                chunk = idx[j : j + 64]
                r = tf.image.resize(mask_probs[chunk][..., None], (h, w), "bilinear").numpy()[..., 0]
                for k, i in enumerate(chunk):
                    out[i] = r[k]
        else:
            for i in idx:
                out[i] = probs_to_size(mask_probs[i], (h, w))
    return out  # type: ignore[return-value]
