"""Tiny-configuration tests of the Y-Net model definition (keras-hub style)."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from medcloud.ai.ynet.losses import DiceBCELoss, FocalCrossentropy  # noqa: E402
from medcloud.ai.ynet.model import YNet  # noqa: E402

TINY = dict(image_size=32, base_filters=4, depth=2, head_units=8)


def test_outputs_have_the_expected_shapes_and_ranges():
    m = YNet(**TINY)
    x = np.random.default_rng(0).random((3, 32, 32, 1)).astype("float32")
    out = m(x, training=False)
    assert tuple(out["class"].shape) == (3, 4)
    assert tuple(out["mask"].shape) == (3, 32, 32, 1)
    np.testing.assert_allclose(np.sum(out["class"], axis=1), 1.0, rtol=1e-5)
    assert 0.0 <= float(np.min(out["mask"])) and float(np.max(out["mask"])) <= 1.0


def test_every_constructor_argument_is_in_get_config():
    m = YNet(**TINY, separable=True, attention=False, dropout=0.1, class_names=["a", "b", "c", "d"])
    cfg = m.get_config()
    args = [p for p in inspect.signature(YNet.__init__).parameters if p not in ("self", "kwargs")]
    assert set(args) <= set(cfg)
    rebuilt = YNet.from_config(cfg)
    assert rebuilt.get_config() == cfg
    assert rebuilt.count_params() == m.count_params()


def test_saved_model_reloads_with_identical_outputs(tmp_path):
    m = YNet(**TINY, attention=True)
    x = np.random.default_rng(1).random((2, 32, 32, 1)).astype("float32")
    path = tmp_path / "tiny.keras"
    m.save(path)
    loaded = keras.saving.load_model(path, compile=False)
    assert isinstance(loaded, YNet)
    assert loaded.get_config() == m.get_config()
    a, b = m(x, training=False), loaded(x, training=False)
    np.testing.assert_allclose(a["class"], b["class"], atol=1e-6)
    np.testing.assert_allclose(a["mask"], b["mask"], atol=1e-6)


def test_image_size_must_be_divisible():
    with pytest.raises(ValueError):
        YNet(image_size=30, depth=2)


def test_one_training_step_lowers_nothing_to_nan():
    keras.utils.set_random_seed(0)
    m = YNet(**TINY, separable=True)
    m.compile(
        optimizer=keras.optimizers.AdamW(1e-3),
        loss={"class": FocalCrossentropy(1.0, 0.05, [1, 1, 1, 1]), "mask": DiceBCELoss()},
    )
    rng = np.random.default_rng(0)
    x = rng.random((4, 32, 32, 1)).astype("float32")
    y = np.eye(4)[[0, 1, 2, 3]].astype("float32")
    mk = (rng.random((4, 32, 32, 1)) > 0.7).astype("float32")
    hist = m.fit(x, {"class": y, "mask": mk}, epochs=2, batch_size=4, verbose=0)
    assert all(np.isfinite(v) for v in hist.history["loss"])
