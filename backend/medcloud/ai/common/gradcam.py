"""Grad-CAM (Selvaraju et al. 2017) of a Keras classifier, batched.

The heat-map of a slice is ``ReLU(sum_k alpha_k A_k)`` where ``A`` is a feature
map the classifier depends on (by default the layer the model names in its
``gradcam_layer_name`` attribute; for the Y-Net the bottleneck, which is what the
classification head pools) and ``alpha_k`` the spatial mean of the gradient of
the explained class score with respect to ``A_k``. Slices are independent at
inference (batch norm in inference mode), so one batched gradient gives every
slice its own map. Maps are normalised to [0, 1] per slice.

The model's class probabilities are its output named ``output`` (a dict output,
as the Y-Net's ``{"class", "mask"}``) or its first output.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class GradCAM:
    def __init__(self, model, layer_name: str | None = None, output: str = "class"):
        import keras

        layer_name = layer_name or getattr(model, "gradcam_layer_name", None)
        if not layer_name:
            raise ValueError("no Grad-CAM layer: pass layer_name or set the model's gradcam_layer_name")
        self.model = model
        self.layer_name = layer_name
        self.output = output
        self.grad_model = keras.Model(
            model.inputs,
            [
                model.get_layer(layer_name).output,
                model.output[output] if isinstance(model.output, dict) else model.output[0],
            ],
        )
        self._fn: Any = None

    def _compute(self, x, class_index):
        import tensorflow as tf

        if self._fn is None:

            @tf.function(reduce_retracing=True)
            def fn(x, class_index):
                with tf.GradientTape() as tape:
                    feats, probs = self.grad_model(x, training=False)
                    tape.watch(feats)
                    # explain the class logit-equivalent: log-probability of the chosen class
                    score = tf.reduce_sum(tf.math.log(tf.gather(probs, class_index, batch_dims=1) + 1e-7))
                grads = tape.gradient(score, feats)
                weights = tf.reduce_mean(grads, axis=[1, 2], keepdims=True)
                cam = tf.nn.relu(tf.reduce_sum(weights * feats, axis=-1))
                return cam, probs

            self._fn = fn
        return self._fn(tf.convert_to_tensor(x), tf.convert_to_tensor(class_index, dtype=tf.int32))

    def heatmaps(self, x: np.ndarray, class_index: np.ndarray | None = None, batch_size: int = 16) -> np.ndarray:
        """``x`` (N, S, S, 1) -> heat-maps (N, S, S) in [0, 1] for ``class_index`` (default: predicted)."""
        import tensorflow as tf

        out = []
        for i in range(0, len(x), batch_size):
            xb = x[i : i + batch_size]
            if class_index is None:
                probs = self.model(xb, training=False)
                probs = probs[self.output] if isinstance(probs, dict) else probs[0]
                ci = np.argmax(np.asarray(probs), axis=1)
            else:
                ci = np.asarray(class_index[i : i + batch_size])
            cam, _ = self._compute(xb, ci.astype(np.int32))
            cam = tf.image.resize(cam[..., None], xb.shape[1:3], "bilinear")[..., 0].numpy()
            peak = cam.reshape(len(cam), -1).max(axis=1)
            cam = cam / np.where(peak > 0, peak, 1.0)[:, None, None]
            out.append(cam.astype(np.float32))
        if not out:
            return np.zeros((0,) + x.shape[1:3], np.float32)
        return np.concatenate(out)


def overlay_rgb(image01: np.ndarray, heat01: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """uint8 RGB of a [0, 1] grey slice with a jet-like heat-map blended on top."""
    h = np.clip(heat01, 0.0, 1.0)
    r = np.clip(1.5 - np.abs(4.0 * h - 3.0), 0, 1)
    g = np.clip(1.5 - np.abs(4.0 * h - 2.0), 0, 1)
    b = np.clip(1.5 - np.abs(4.0 * h - 1.0), 0, 1)
    heat = np.stack([r, g, b], axis=-1)
    grey = np.repeat(np.clip(image01, 0, 1)[..., None], 3, axis=-1)
    a = alpha * h[..., None]
    return np.round((grey * (1 - a) + heat * a) * 255).astype(np.uint8)
