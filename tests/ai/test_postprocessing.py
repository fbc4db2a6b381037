"""Mask post-processing, batch-norm recalibration and checkpoint averaging (tiny models)."""

from __future__ import annotations

import numpy as np
import pytest

from medcloud.ai.ynet.predictor import postprocess_mask

NAMES = ["glioma", "meningioma", "pituitary", "no_tumor"]


def test_threshold_largest_component_and_gate():
    p = np.zeros((10, 10), "float32")
    p[1:4, 1:4] = 0.9  # 9 px
    p[7, 7] = 0.6  # 1 px
    assert postprocess_mask(p, None, 0.5).sum() == 10
    assert postprocess_mask(p, None, 0.7).sum() == 9
    assert postprocess_mask(p, None, 0.5, largest_component=True).sum() == 9
    no = np.array([0.1, 0.1, 0.1, 0.7])
    assert postprocess_mask(p, no, 0.5, gate_by_class=True, class_names=NAMES).sum() == 0
    assert postprocess_mask(p, no, 0.5, gate_by_class=False, class_names=NAMES).sum() == 10


def test_recalibrated_bn_matches_the_data():
    keras = pytest.importorskip("keras")
    from medcloud.ai.ynet.swa import average_weights, recalibrate_bn

    inp = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(3, 1, use_bias=False, kernel_initializer="ones")(inp)
    x = keras.layers.BatchNormalization()(x)
    m = keras.Model(inp, x)
    data = (np.random.default_rng(0).normal(2.0, 3.0, (64, 8, 8, 1))).astype("float32")
    recalibrate_bn(m, data, batch_size=16)
    bn = m.layers[-1]
    np.testing.assert_allclose(bn.moving_mean.numpy(), data.mean(), rtol=1e-3)
    np.testing.assert_allclose(bn.moving_variance.numpy(), data.var(), rtol=1e-2)
    m2 = keras.models.clone_model(m)
    m2.set_weights([w * 3 for w in m.get_weights()])
    avg = average_weights([m, m2])
    np.testing.assert_allclose(avg[0], 2 * m.get_weights()[0])


def test_multi_size_prediction_shapes(tiny_predictor):
    from medcloud.ai.ynet.predictor import YNetPredictor

    p = YNetPredictor(tiny_predictor.model, tta=True, sizes=[32, 48])
    imgs = np.random.default_rng(0).random((3, 40, 40)).astype("float32")
    probs, masks = p.predict_images(imgs)
    assert probs.shape == (3, 4) and masks.shape == (3, 48, 48)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
    probs2, full = p.predict_slices([imgs[0], imgs[1][:30]], normalized=True)
    assert full[1].shape == (30, 40)
