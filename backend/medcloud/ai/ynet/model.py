"""The Y-Net: a U-Net-style encoder-decoder whose bottleneck also feeds a classifier.

Keras 3 Functional API, in the keras-hub style: ``YNet`` is a ``keras.Model``
subclass whose ``__init__`` builds the functional graph, and every constructor
argument is returned by ``get_config()`` so that ``keras.saving.load_model``
rebuilds it exactly.

Inputs: ``(batch, S, S, 1)`` float images in [0, 1] (see ``preprocessing``).
Outputs: a dict ``{"class": (batch, num_classes) softmax, "mask": (batch, S, S, 1) sigmoid}``.

Building blocks:
- residual blocks (two 3x3 convolutions, optionally depthwise-separable, batch
  norm, ReLU, 1x1 projection shortcut when the width changes);
- max-pool downsampling, bilinear upsampling + 1x1 convolution in the decoder;
- additive attention gates (Oktay et al. 2018) on the skip connections;
- classifier on the bottleneck: global average + global max pooling, dropout,
  a small dense layer, softmax. Outputs are float32 even under mixed precision.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import layers

from medcloud.ai.ynet.config import CLASSES


def _conv(x, filters: int, kernel: int, separable: bool, name: str):
    if separable and kernel > 1 and x.shape[-1] > 1:
        return layers.SeparableConv2D(filters, kernel, padding="same", use_bias=False, name=name)(x)
    return layers.Conv2D(filters, kernel, padding="same", use_bias=False, name=name)(x)


def residual_block(x, filters: int, separable: bool, name: str):
    """Two 3x3 convolutions with batch norm and a (projected) identity shortcut."""
    shortcut = x
    if x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_proj")(x)
        shortcut = layers.BatchNormalization(name=f"{name}_proj_bn")(shortcut)
    y = _conv(x, filters, 3, separable, f"{name}_conv1")
    y = layers.BatchNormalization(name=f"{name}_bn1")(y)
    y = layers.Activation("relu", name=f"{name}_relu1")(y)
    y = _conv(y, filters, 3, separable, f"{name}_conv2")
    y = layers.BatchNormalization(name=f"{name}_bn2")(y)
    y = layers.Add(name=f"{name}_add")([shortcut, y])
    return layers.Activation("relu", name=f"{name}_out")(y)


def attention_gate(skip, gate, inter: int, name: str):
    """Additive attention gate: weights the skip features by a gating signal."""
    theta = layers.Conv2D(inter, 1, use_bias=False, name=f"{name}_theta")(skip)
    phi = layers.Conv2D(inter, 1, use_bias=True, name=f"{name}_phi")(gate)
    a = layers.Activation("relu", name=f"{name}_relu")(layers.Add(name=f"{name}_add")([theta, phi]))
    psi = layers.Conv2D(1, 1, name=f"{name}_psi")(a)
    psi = layers.Activation("sigmoid", name=f"{name}_sigmoid")(psi)
    return layers.Multiply(name=f"{name}_apply")([skip, psi])


@keras.saving.register_keras_serializable(package="medcloud_ynet")
class YNet(keras.Model):
    """Y-Net for joint brain-tumour classification and segmentation.

    Args:
        image_size: side of the square input, in pixels (divisible by 2**depth).
        in_channels: number of input channels (1 for grayscale MRI).
        num_classes: number of classes of the classification head.
        base_filters: width of the first encoder level; doubles at each level.
        depth: number of downsampling steps (encoder levels below the stem).
        separable: depthwise-separable 3x3 convolutions instead of full ones.
        attention: attention gates on the skip connections.
        dropout: dropout rate in the classification head.
        head_units: width of the dense layer of the classification head.
        class_names: names of the classes, in output order.
    """

    def __init__(
        self,
        image_size: int = 192,
        in_channels: int = 1,
        num_classes: int = 4,
        base_filters: int = 24,
        depth: int = 4,
        separable: bool = False,
        attention: bool = True,
        dropout: float = 0.3,
        head_units: int = 128,
        class_names: Sequence[str] | None = None,
        **kwargs: Any,
    ):
        if image_size % (2**depth):
            raise ValueError(f"image_size {image_size} must be divisible by 2**depth={2**depth}")
        class_names = list(class_names) if class_names is not None else list(CLASSES[:num_classes])
        if len(class_names) != num_classes:
            raise ValueError("class_names must have num_classes entries")

        inputs = keras.Input((image_size, image_size, in_channels), name="image")
        widths = [base_filters * 2**i for i in range(depth + 1)]

        x = layers.Conv2D(widths[0], 3, padding="same", use_bias=False, name="stem_conv")(inputs)
        x = layers.BatchNormalization(name="stem_bn")(x)
        x = layers.Activation("relu", name="stem_relu")(x)

        skips = []
        for level in range(depth):
            x = residual_block(x, widths[level], separable, f"enc{level}")
            skips.append(x)
            x = layers.MaxPooling2D(2, name=f"enc{level}_pool")(x)
        bottleneck = residual_block(x, widths[depth], separable, "bottleneck")

        # Classification head on the bottleneck.
        gap = layers.GlobalAveragePooling2D(name="cls_gap")(bottleneck)
        gmp = layers.GlobalMaxPooling2D(name="cls_gmp")(bottleneck)
        c = layers.Concatenate(name="cls_concat")([gap, gmp])
        c = layers.Dropout(dropout, name="cls_dropout1")(c)
        c = layers.Dense(head_units, activation="relu", name="cls_dense")(c)
        c = layers.Dropout(dropout, name="cls_dropout2")(c)
        class_out = layers.Dense(num_classes, name="cls_logits")(c)
        class_out = layers.Activation("softmax", dtype="float32", name="class")(class_out)

        # Segmentation decoder.
        y = bottleneck
        for level in reversed(range(depth)):
            y = layers.UpSampling2D(2, interpolation="bilinear", name=f"dec{level}_up")(y)
            y = layers.Conv2D(widths[level], 1, use_bias=False, name=f"dec{level}_reduce")(y)
            y = layers.BatchNormalization(name=f"dec{level}_reduce_bn")(y)
            y = layers.Activation("relu", name=f"dec{level}_reduce_relu")(y)
            skip = skips[level]
            if attention:
                skip = attention_gate(skip, y, max(widths[level] // 2, 4), f"dec{level}_att")
            y = layers.Concatenate(name=f"dec{level}_concat")([y, skip])
            y = residual_block(y, widths[level], separable, f"dec{level}")
        mask_out = layers.Conv2D(1, 1, name="mask_logits")(y)
        mask_out = layers.Activation("sigmoid", dtype="float32", name="mask")(mask_out)

        kwargs.setdefault("name", "ynet")
        super().__init__(inputs=inputs, outputs={"class": class_out, "mask": mask_out}, **kwargs)

        self.image_size = image_size
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.base_filters = base_filters
        self.depth = depth
        self.separable = separable
        self.attention = attention
        self.dropout = dropout
        self.head_units = head_units
        self.class_names = class_names

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "trainable": self.trainable,
            "image_size": self.image_size,
            "in_channels": self.in_channels,
            "num_classes": self.num_classes,
            "base_filters": self.base_filters,
            "depth": self.depth,
            "separable": self.separable,
            "attention": self.attention,
            "dropout": self.dropout,
            "head_units": self.head_units,
            "class_names": list(self.class_names),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> YNet:
        return cls(**config)

    # Layers used by Grad-CAM (the classifier's input feature map).
    gradcam_layer_name = "bottleneck_out"
