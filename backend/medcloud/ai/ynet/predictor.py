"""Array-level Y-Net inference: batches in, class probabilities and mask probabilities out.

Used by training (validation), ``evaluate`` and the DICOM series inference.
Test-time augmentation: the horizontal flip and, optionally, several input sizes
(the network is fully convolutional with global pooling, so the same weights run
at any multiple of 2**depth; the training zoom augmentation 0.8-1.25 covers a
1.25x larger input). Class and mask probabilities are averaged.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from medcloud.ai.common.preprocessing import probs_to_size, to_model_input


class YNetPredictor:
    """Wraps a loaded Y-Net with its preprocessing and post-processing."""

    def __init__(
        self,
        model=None,
        tta: bool = True,
        batch_size: int = 24,
        threshold: float | None = None,
        largest_component: bool | None = None,
        gate_by_class: bool | None = None,
        metadata: dict | None = None,
        sizes: Sequence[int] | None = None,
        decision: str | None = None,
    ):
        """Post-processing defaults come from the model's metadata (``ynet.json``, tuned on val), else
        threshold 0.5, no connected-component filtering, masks gated by the class."""
        if model is None:
            from medcloud.ai.ynet.export import load_model

            model = load_model()
        post = (metadata or {}).get("postprocessing", {})
        self.model = model
        self.tta = tta
        self.batch_size = batch_size
        self.threshold = float(threshold if threshold is not None else post.get("threshold", 0.5))
        self.largest_component = bool(
            largest_component if largest_component is not None else post.get("largest_component", False)
        )
        self.gate_by_class = bool(gate_by_class if gate_by_class is not None else post.get("gate_by_class", True))
        # "classifier": the class is the classifier's argmax. "classifier_and_mask": a tumour class is
        # kept only when the mask also finds at least min_tumour_frac of the slice (a localised finding);
        # otherwise the slice is called no tumour (guards against a classifier that recognises the source)
        self.decision = str(decision or post.get("decision", "classifier"))
        self.min_tumour_frac = float(post.get("min_tumour_frac", 10 / 65536))
        self.image_size = int(model.input_shape[1])
        self.sizes = [int(v) for v in (sizes if sizes is not None else post.get("sizes", [self.image_size]))]
        self._variants: dict[int, object] = {self.image_size: model}
        self._fns: dict[int, object] = {}
        self.class_names = list(getattr(model, "class_names", None) or [])
        if not self.class_names:
            from medcloud.ai.ynet.config import CLASSES

            self.class_names = list(CLASSES)
        self._fn = None

    @classmethod
    def from_file(cls, path: str | Path | None = None, **kwargs) -> YNetPredictor:
        from medcloud.ai.ynet.export import load_metadata, load_model

        kwargs.setdefault("metadata", load_metadata(path))
        return cls(load_model(path), **kwargs)

    def binarize(self, prob: np.ndarray, class_probs: np.ndarray | None = None) -> np.ndarray:
        """Mask probabilities (any size) -> boolean mask with the predictor's post-processing."""
        return (
            self.decide(class_probs, prob)[1]
            if class_probs is not None
            else postprocess_mask(prob, None, self.threshold, self.largest_component, False, self.class_names)
        )

    def decide(
        self, class_probs: np.ndarray, mask_prob: np.ndarray, decision: str | None = None
    ) -> tuple[int, np.ndarray]:
        """(class index, boolean mask) of one slice from its class probabilities and mask probabilities."""
        decision = decision or self.decision
        m = postprocess_mask(mask_prob, None, self.threshold, self.largest_component, False, self.class_names)
        k = int(np.argmax(class_probs))
        no_idx = self.class_names.index("no_tumor") if "no_tumor" in self.class_names else -1
        if decision == "classifier_and_mask" and k != no_idx and m.sum() < self.min_tumour_frac * m.size:
            k = no_idx
        if self.gate_by_class and k == no_idx:
            m = np.zeros_like(m)
        return k, m

    def _variant(self, size: int):
        """The model at another input size, sharing the trained weights."""
        if size not in self._variants:
            from medcloud.ai.ynet.model import YNet

            cfg = {k: v for k, v in self.model.get_config().items() if k not in ("trainable", "name")}
            v = YNet(**{**cfg, "image_size": int(size)})
            v.set_weights(self.model.get_weights())
            self._variants[size] = v
        return self._variants[size]

    def _forward(self, x: np.ndarray):
        import tensorflow as tf

        size = int(x.shape[1])
        if size not in self._fns:
            model = self._variant(size)

            @tf.function(reduce_retracing=True)
            def fn(batch):
                out = model(batch, training=False)
                return out["class"], out["mask"]

            self._fns[size] = fn
        c, m = self._fns[size](tf.convert_to_tensor(x))
        return c.numpy(), m.numpy()

    def predict_images(self, images01) -> tuple[np.ndarray, np.ndarray]:
        """Normalised slices (list or (N, H, W) array in [0, 1], any size) -> (class probs (N, C),
        mask probs (N, S, S) at the largest input size, over the square-padded slice), averaged over
        ``self.sizes`` and the flip."""
        import tensorflow as tf

        out_size = max(self.sizes)
        probs, masks = None, None
        for size in self.sizes:
            x = to_model_input(images01, size, normalized=True)
            c, m = self.predict_batch(x)
            if size != out_size and len(m):
                m = tf.image.resize(m[..., None], (out_size, out_size), "bilinear").numpy()[..., 0]
            probs = c if probs is None else probs + c
            masks = m if masks is None else masks + m
        k = float(len(self.sizes))
        return probs / k, masks / k

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
        from medcloud.ai.common.preprocessing import normalize_intensity

        imgs = [np.asarray(s, np.float32) if normalized else normalize_intensity(s) for s in slices]
        probs, masks = self.predict_images(imgs)
        full = [probs_to_size(m, np.asarray(s).shape[:2]) for m, s in zip(masks, slices, strict=False)]
        return probs, full


def postprocess_mask(
    prob: np.ndarray,
    class_probs: np.ndarray | None,
    threshold: float = 0.5,
    largest_component: bool = False,
    gate_by_class: bool = False,
    class_names: Sequence[str] | None = None,
) -> np.ndarray:
    """Threshold; optionally keep the largest 8-connected component; optionally empty the mask
    when the classifier says no tumour."""
    m = np.asarray(prob) >= threshold
    if gate_by_class and class_probs is not None:
        names = list(class_names or [])
        if "no_tumor" in names and int(np.argmax(class_probs)) == names.index("no_tumor"):
            return np.zeros_like(m)
    if largest_component and m.any():
        from scipy import ndimage

        lab, n = ndimage.label(m, structure=np.ones((3, 3), bool))
        if n > 1:
            sizes = np.bincount(lab.ravel())
            sizes[0] = 0
            m = lab == int(np.argmax(sizes))
    return m


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
