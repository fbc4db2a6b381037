"""Losses and metrics, checked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from medcloud.ai.common.metrics import PooledOverlap, classification_metrics, dice_iou
from medcloud.ai.ynet.losses import class_weights_from_counts


def test_dice_iou_by_hand():
    t = np.zeros((4, 4), bool)
    p = np.zeros((4, 4), bool)
    t[0, :4] = True  # 4 px
    p[0, 2:] = True  # 2 px, overlap 2
    p[1, 0] = True  # 3 px predicted
    d, i = dice_iou(t, p)
    assert d == pytest.approx(2 * 2 / (4 + 3))
    assert i == pytest.approx(2 / 5)


def test_pooled_overlap_pools_pixels_not_images():
    o = PooledOverlap()
    big = np.ones((10, 10), bool)
    o.update(big, big)  # 100 px perfect
    small_t = np.zeros((10, 10), bool)
    small_t[0, 0] = True
    o.update(small_t, np.zeros((10, 10), bool))  # 1 px missed
    assert o.dice == pytest.approx(200 / 201)


def test_classification_metrics_with_missing_classes():
    names = ["glioma", "meningioma", "pituitary", "no_tumor"]
    y = np.array([0, 0, 3, 3])
    p = np.array([0, 1, 3, 3])
    m = classification_metrics(y, p, names)
    assert m["accuracy"] == pytest.approx(0.75)
    assert set(m["per_class"]) == {"glioma", "no_tumor"}
    assert m["per_class"]["glioma"]["recall"] == pytest.approx(0.5)
    # F1 glioma: p=1, r=.5 -> 2/3; no_tumor: 1 -> macro 5/6
    assert m["macro_f1"] == pytest.approx((2 / 3 + 1) / 2)
    assert m["confusion_matrix"][0][1] == 1


def test_class_weights_mean_one_and_inverse_order():
    w = class_weights_from_counts([900, 450, 600, 770])
    assert np.mean(w) == pytest.approx(1.0)
    assert w[1] == max(w) and w[0] == min(w)


def test_focal_reduces_to_cross_entropy():
    pytest.importorskip("keras")
    from medcloud.ai.ynet.losses import DiceBCELoss, FocalCrossentropy

    y = np.array([[0, 1, 0, 0]], "float32")
    p = np.array([[0.1, 0.6, 0.2, 0.1]], "float32")
    assert float(FocalCrossentropy(gamma=0.0)(y, p)) == pytest.approx(-np.log(0.6), rel=1e-5)
    assert float(FocalCrossentropy(gamma=2.0)(y, p)) == pytest.approx(-np.log(0.6) * 0.4**2, rel=1e-5)
    m = np.zeros((1, 8, 8, 1), "float32")
    m[0, 2:5, 2:5] = 1
    assert float(DiceBCELoss()(m, m)) < 1e-3
    assert float(DiceBCELoss()(m, 1 - m)) > 1.0
