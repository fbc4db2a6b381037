"""Data of the Y-Net: in-memory arrays of the training sets and the ``tf.data`` training pipeline.

Rows come from the ``manifest.csv`` of each set (``medcloud.ai.common.manifest``); an
empty ``mask_file`` means no tumour.

The training pipeline is deterministic given a seed: the sample order of every
epoch comes from ``numpy.random.default_rng(seed + epoch)`` and every batch is
augmented with stateless random ops seeded by ``(seed, batch_index)``.
Geometric augmentation is applied with one transform to the image and its mask
together; intensity augmentation (to the image only) is strong on purpose, to
erase the scanner/source differences between the tumour and no-tumour sets.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from medcloud.ai.common.manifest import Record, load_image, load_mask, read_manifest
from medcloud.ai.common.preprocessing import normalize_intensity
from medcloud.ai.ynet.config import CLASSES, TRAIN_SETS


@dataclasses.dataclass
class ArraySet:
    """Preprocessed images at the model size plus labels and full-resolution masks."""

    images: np.ndarray  # (N, S, S) float32 in [0, 1]
    masks: np.ndarray  # (N, S, S) float32 soft masks at model size
    labels: np.ndarray  # (N,) int, -1 for labels outside CLASSES
    full_masks: list[np.ndarray]  # (H, W) uint8 masks at the original size
    records: list[Record]
    # tumour slices with the tumour erased (training only, see ``erase_tumour``); NaN-free, same shape
    erased: np.ndarray | None = None


def erase_tumour(img01: np.ndarray, mask: np.ndarray, seed: int, dilate: int = 4) -> np.ndarray:
    """The slice with its tumour replaced by brain-like tissue: a training-only negative example.

    The dilated tumour region is filled from the image mirrored about the brain's own
    mid-column (healthy tissue of the other side, same scanner and sequence); where
    the mirror falls on tumour too, a ring-median fill with matched noise. The edge
    is feathered. This is deliberately *not* the median fill of ``confound.remove_tumour``,
    so that the confound check does not test the model on its own training trick.
    """
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    m = ndimage.binary_dilation(mask.astype(bool), iterations=dilate)
    if not m.any():
        return img01.copy()
    cols = np.nonzero((img01 > 0.05).any(axis=0))[0]
    mid = (cols[0] + cols[-1]) / 2.0 if len(cols) else (img01.shape[1] - 1) / 2.0
    src = np.clip(np.round(2 * mid - np.arange(img01.shape[1])).astype(int), 0, img01.shape[1] - 1)
    mirrored = img01[:, src]
    mirrored_mask = m[:, src]
    outer = ndimage.binary_dilation(m, iterations=6) & ~m & (img01 > 0.02)
    ring = img01[outer] if outer.any() else img01[img01 > 0.02]
    fill = float(np.median(ring)) + rng.normal(0.0, float(np.std(ring)) * 0.5, img01.shape)
    fill = ndimage.gaussian_filter(fill, 1.0)
    patch = np.where(mirrored_mask, fill, mirrored)
    weight = ndimage.gaussian_filter(m.astype(np.float32), 1.5)
    weight = np.maximum(weight, m)
    return np.clip(img01 * (1.0 - weight) + patch * weight, 0.0, 1.0).astype(np.float32)


def load_arrays(
    records: Sequence[Record], size: int, keep_full_masks: bool = True, with_erased: bool = False
) -> ArraySet:
    """Read, normalise and resize every record (images: antialiased bilinear; masks: area).

    ``with_erased`` also keeps, for every slice with a tumour mask, a copy with the tumour
    erased (``erase_tumour``) for the training pipeline's erased negatives."""
    import tensorflow as tf

    from medcloud.ai.common.preprocessing import pad_to_square

    n = len(records)
    images = np.empty((n, size, size), dtype=np.float32)
    masks = np.empty((n, size, size), dtype=np.float32)
    labels = np.array([CLASSES.index(r.label) if r.label in CLASSES else -1 for r in records])
    full_masks: list[np.ndarray] = []
    erased = np.full((n, size, size), np.nan, dtype=np.float32) if with_erased else None

    def to_size(img: np.ndarray) -> np.ndarray:
        img, _ = pad_to_square(img)
        if img.shape[0] != size:
            img = tf.image.resize(img[None, ..., None], (size, size), "bilinear", antialias=True).numpy()[0, ..., 0]
        return img

    for i, rec in enumerate(records):
        img = normalize_intensity(load_image(rec.image_path))
        m = load_mask(rec, img.shape)
        if keep_full_masks:
            full_masks.append(m)
        if erased is not None and m.any():
            erased[i] = to_size(erase_tumour(img, m, seed=i))
        img = to_size(img)
        m, _ = pad_to_square(m)
        if m.shape[0] != size:
            m = tf.image.resize(m[None, ..., None].astype(np.float32), (size, size), "area").numpy()[0, ..., 0]
        images[i] = img
        masks[i] = m
    return ArraySet(images, masks, labels, full_masks, list(records), erased)


def load_split(split: str, size: int, data_dir: Path, limit: int | None = None, with_erased=False) -> ArraySet:
    """``split`` of every training set (``TRAIN_SETS``) under the data folder ``data_dir``, as arrays at
    ``size`` (``limit``: a seeded random subset)."""
    root = Path(data_dir)
    records = []
    for name in TRAIN_SETS:
        records += read_manifest(root / name, splits=[split])
    if limit:
        rng = np.random.default_rng(0)
        records = [records[i] for i in sorted(rng.choice(len(records), min(limit, len(records)), replace=False))]
    return load_arrays(records, size, with_erased=with_erased)


# ---------------------------------------------------------------------------
# Augmentation (batched, stateless, identical geometry for image and mask)
# ---------------------------------------------------------------------------


def _gaussian_kernel(sigma: float, radius: int = 2):
    import tensorflow as tf

    x = tf.range(-radius, radius + 1, dtype=tf.float32)
    k = tf.exp(-(x**2) / (2.0 * sigma**2))
    k = k / tf.reduce_sum(k)
    return tf.reshape(k[:, None] * k[None, :], (2 * radius + 1, 2 * radius + 1, 1, 1))


def _seeds(seed):
    import tensorflow as tf

    return tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 12)


def augment_geometry(images, masks, seeds, strength: float = 1.0):
    """One random affine per sample, applied to the image and its mask together.

    Horizontal flip, rotation +-15 deg, zoom 0.8-1.25, anisotropic squeeze 0.75-1
    of one axis (letterboxing), shifts +-10%; zero fill outside the source.
    """
    import tensorflow as tf

    b = tf.shape(images)[0]
    size = tf.cast(tf.shape(images)[1], tf.float32)

    def u(i, lo, hi):
        return tf.random.stateless_uniform((b,), seeds[i], lo, hi)

    s = strength
    # output pixel p is sampled from input pixel A (p - o) + c (projective 8-vector)
    angle = u(0, -15.0, 15.0) * s * math.pi / 180.0
    zoom = tf.exp(u(1, math.log(0.8), math.log(1.25)) * s)
    squeeze = u(2, 0.75, 1.0)
    squeeze = 1.0 - (1.0 - squeeze) * s
    squeeze_x = u(3, 0.0, 1.0) < 0.5
    sx = zoom * tf.where(squeeze_x, squeeze, 1.0)
    sy = zoom * tf.where(squeeze_x, 1.0, squeeze)
    flip = tf.where(u(4, 0.0, 1.0) < 0.5, -1.0, 1.0)
    tx = u(5, -0.1, 0.1) * size * s
    ty = u(6, -0.1, 0.1) * size * s
    c = (size - 1.0) / 2.0
    cos, sin = tf.cos(angle), tf.sin(angle)
    a0 = cos / sx * flip
    a1 = sin / sy
    b0 = -sin / sx * flip
    b1 = cos / sy
    ox = c + tx
    oy = c + ty
    a2 = c - a0 * ox - a1 * oy
    b2 = c - b0 * ox - b1 * oy
    zeros = tf.zeros_like(a0)
    transforms = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
    both = tf.concat([images, masks], axis=-1)
    both = tf.raw_ops.ImageProjectiveTransformV3(
        images=both,
        transforms=transforms,
        output_shape=tf.shape(images)[1:3],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )
    return both[..., :1], both[..., 1:]


def augment_intensity(images, seeds, strength: float = 1.0):
    """Image-only intensity changes that blur the differences between sources.

    Gamma, a random monotone tone curve (histogram jitter), contrast, brightness,
    blur, Gaussian noise and (10%) polarity inversion of the foreground so that
    the CSF brightness (T1 vs T2) is not a shortcut.
    """
    import tensorflow as tf

    b = tf.shape(images)[0]
    s = strength

    def u(i, lo, hi):
        return tf.random.stateless_uniform((b,), seeds[i], lo, hi)

    x = tf.clip_by_value(images, 0.0, 1.0)
    gamma = tf.exp(u(7, -0.5, 0.5) * s)[:, None, None, None]
    x = tf.pow(x + 1e-6, gamma)
    k = (u(8, -0.6, 0.6) * s)[:, None, None, None]  # monotone tone curve x + k x (1 - x)
    x = x + k * x * (1.0 - x)
    contrast = tf.exp(u(9, -0.3, 0.3) * s)[:, None, None, None]
    mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
    bright = (u(10, -0.08, 0.08) * s)[:, None, None, None]
    x = (x - mean) * contrast + mean + bright
    rnd = tf.random.stateless_uniform((b, 4), seeds[11], 0.0, 1.0)
    invert = tf.cast(rnd[:, 3] < 0.1 * s, x.dtype)[:, None, None, None]
    fg = tf.cast(images > 0.03, x.dtype)
    x = x * (1.0 - invert) + invert * fg * tf.clip_by_value(1.05 - x, 0.0, 1.0)
    blurred = tf.nn.conv2d(x, _gaussian_kernel(1.0), strides=1, padding="SAME")
    blur_w = tf.where(rnd[:, 0] < 0.35, rnd[:, 1], 0.0)[:, None, None, None] * s
    x = x * (1.0 - blur_w) + blurred * blur_w
    noise_sd = tf.where(rnd[:, 2] < 0.5, rnd[:, 2] * 0.08, 0.0)[:, None, None, None] * s
    noise = tf.random.stateless_normal(tf.shape(x), seeds[11] + 7)
    return tf.clip_by_value(x + noise * noise_sd, 0.0, 1.0)


def augment_batch(images, masks, seed, strength: float = 1.0):
    """Augment a batch ``images (B,S,S,1)``, ``masks (B,S,S,1)`` with a stateless ``seed`` (2 ints):
    ``augment_geometry`` on both, then ``augment_intensity`` on the image."""
    seeds = _seeds(seed)
    images, masks = augment_geometry(images, masks, seeds, strength)
    return augment_intensity(images, seeds, strength), masks


def epoch_order(n: int, epochs: int, batch_size: int, seed: int) -> np.ndarray:
    """Sample indices for all epochs, ``(epochs, steps, batch)``: a fresh permutation each epoch."""
    steps = n // batch_size
    out = np.empty((epochs, steps, batch_size), dtype=np.int32)
    for e in range(epochs):
        perm = np.random.default_rng(seed + e).permutation(n)
        out[e] = perm[: steps * batch_size].reshape(steps, batch_size)
    return out


def train_dataset(
    arrays: ArraySet,
    epochs: int,
    batch_size: int,
    seed: int,
    num_classes: int = 4,
    augment: bool = True,
    strength: float = 1.0,
    erase_prob: float = 0.0,
):
    """An endless-enough ``tf.data.Dataset`` of ``(image, {"class": onehot, "mask": mask})`` batches.

    ``erase_prob``: each tumour slice that has an erased copy (``load_arrays(with_erased=True)``)
    is swapped, with this probability, for that copy labelled no tumour with an empty mask: the
    same scanner and sequence without the tumour, so "tumour" cannot be learnt as "Cheng source".
    """
    import tensorflow as tf

    order = epoch_order(len(arrays.labels), epochs, batch_size, seed).reshape(-1, batch_size)
    images = tf.constant((arrays.images * 255.0).round().astype(np.uint8)[..., None])
    masks = tf.constant((arrays.masks * 255.0).round().astype(np.uint8)[..., None])
    labels = tf.constant(arrays.labels.astype(np.int32))
    use_erased = erase_prob > 0 and arrays.erased is not None
    if use_erased:
        has_erased = tf.constant(~np.isnan(arrays.erased[:, 0, 0]))
        erased = tf.constant((np.nan_to_num(arrays.erased) * 255.0).round().astype(np.uint8)[..., None])
    no_tumour = num_classes - 1  # CLASSES ends with no_tumor

    def make(i, idx):
        x = tf.cast(tf.gather(images, idx), tf.float32) / 255.0
        m = tf.cast(tf.gather(masks, idx), tf.float32) / 255.0
        y_idx = tf.gather(labels, idx)
        if use_erased:
            draw = tf.random.stateless_uniform(tf.shape(idx), tf.stack([tf.constant(seed + 99, tf.int64), i]))
            swap = tf.gather(has_erased, idx) & (draw < erase_prob)
            x = tf.where(swap[:, None, None, None], tf.cast(tf.gather(erased, idx), tf.float32) / 255.0, x)
            m = tf.where(swap[:, None, None, None], 0.0, m)
            y_idx = tf.where(swap, no_tumour, y_idx)
        if augment:
            x, m = augment_batch(x, m, tf.stack([tf.constant(seed, tf.int64), i]), strength)
        y = tf.one_hot(y_idx, num_classes)
        return x, {"class": y, "mask": m}

    ds = tf.data.Dataset.from_tensor_slices(order).enumerate()
    ds = ds.map(make, num_parallel_calls=1, deterministic=True)
    return ds.prefetch(2)
