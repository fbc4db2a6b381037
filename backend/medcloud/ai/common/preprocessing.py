"""Generic pre- and post-processing of 2-D slices (training, evaluation and DICOM inference of any model).

The same steps run on the training PNGs and on DICOM slices, so the model
always sees the same kind of input:

1. ``normalize_intensity``: robust per-slice min-max to [0, 1] (0.5th and 99.5th
   percentiles). This removes most of the global intensity differences between
   scanners and file formats (8-bit PNG, 12/16-bit DICOM, rescale slope/intercept).
2. ``to_model_input``: antialiased bilinear resize of the (square-padded) slice to the model's
   input size.
3. ``probs_to_size``: bilinear resize of the mask probabilities back to the slice's own
   resolution, then a 0.5 threshold.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

LOW_PERCENTILE = 0.5
HIGH_PERCENTILE = 99.5


def normalize_intensity(arr: np.ndarray) -> np.ndarray:
    """Map a 2-D slice to float32 [0, 1] between its 0.5th and 99.5th percentiles."""
    a = np.asarray(arr, dtype=np.float32)
    if a.ndim == 3 and a.shape[-1] in (3, 4):
        a = a[..., :3].mean(axis=-1)
    a = np.squeeze(a)
    if a.ndim != 2:
        raise ValueError(f"expected a 2-D slice, got shape {arr.shape}")
    finite = np.isfinite(a)
    if not finite.all():
        a = np.where(finite, a, 0.0).astype(np.float32)
    lo, hi = np.percentile(a, [LOW_PERCENTILE, HIGH_PERCENTILE])
    if hi - lo < 1e-6:
        hi = lo + 1.0
    return np.clip((a - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


def pad_to_square(a: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """Zero-pad a 2-D array to a square (centred). Returns the array and (top, left) offsets."""
    h, w = a.shape[:2]
    s = max(h, w)
    top, left = (s - h) // 2, (s - w) // 2
    if h == w:
        return a, (0, 0)
    out = np.zeros((s, s) + a.shape[2:], dtype=a.dtype)
    out[top : top + h, left : left + w] = a
    return out, (top, left)


def to_model_input(slices: Sequence[np.ndarray], size: int, normalized: bool = False) -> np.ndarray:
    """Normalise, pad to square and resize slices to a ``(N, size, size, 1)`` float32 batch."""
    import tensorflow as tf

    if isinstance(slices, np.ndarray) and slices.ndim == 3 and slices.shape[1] == slices.shape[2] and normalized:
        if slices.shape[1] == size:
            return slices[..., None].astype(np.float32)
        return tf.image.resize(slices[..., None].astype(np.float32), (size, size), "bilinear", antialias=True).numpy()
    out = np.empty((len(slices), size, size, 1), dtype=np.float32)
    for i, s in enumerate(slices):
        a = s if normalized else normalize_intensity(s)
        a, _ = pad_to_square(np.asarray(a, dtype=np.float32))
        if a.shape[0] == size:
            out[i, ..., 0] = a
        else:
            out[i] = tf.image.resize(a[None, ..., None], (size, size), "bilinear", antialias=True)[0].numpy()
    return out


def probs_to_size(prob: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize a square ``(S, S)`` probability map back to a slice of ``shape`` (undoing the padding)."""
    import tensorflow as tf

    h, w = shape
    s = max(h, w)
    p = np.asarray(prob, dtype=np.float32)
    if p.shape[0] != s:
        p = tf.image.resize(p[None, ..., None], (s, s), "bilinear").numpy()[0, ..., 0]
    top, left = (s - h) // 2, (s - w) // 2
    return p[top : top + h, left : left + w]
