"""Fixtures of the Y-Net tests (no Django, no services; the data folder beside the repository)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from medcloud.ai.runtime import AIRuntime  # noqa: E402
from medcloud.ai.ynet.config import MODEL_FILE  # noqa: E402
from medcloud.core.paths import shared_data_dir  # noqa: E402


def _tf_threads() -> None:
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(2)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass


@pytest.fixture(scope="session")
def ynet_data() -> Path:
    root = shared_data_dir()
    if not (root / "brain_mri_cheng" / "manifest.csv").is_file():
        pytest.fail(f"the shared data folder {root} is missing (it sits beside the repository)")
    return root


@pytest.fixture(scope="session")
def ynet_weights() -> Path:
    weights = AIRuntime.from_environ().weights_for("ynet", MODEL_FILE)
    if not weights.is_file():
        pytest.skip(f"trained Y-Net weights not committed yet: {weights}")
    return weights


@pytest.fixture(scope="session")
def ynet_predictor(ynet_weights):
    _tf_threads()
    from medcloud.ai.ynet.predictor import YNetPredictor

    return YNetPredictor.from_file(ynet_weights)


@pytest.fixture(scope="session")
def tiny_predictor():
    """A randomly initialised tiny Y-Net (fast, for plumbing tests)."""
    _tf_threads()
    import keras

    from medcloud.ai.ynet.model import YNet
    from medcloud.ai.ynet.predictor import YNetPredictor

    keras.utils.set_random_seed(0)
    return YNetPredictor(YNet(image_size=32, base_filters=4, depth=2, head_units=8), tta=True)


@pytest.fixture(scope="session")
def val_tumour_records(ynet_data):
    """Validation tumour slices of one patient group, in manifest order."""
    from medcloud.ai.common.manifest import read_manifest

    recs = read_manifest(ynet_data / "brain_mri_cheng", splits=["val"])
    first = recs[0].patient
    same = [r for r in recs if r.patient == first]
    return same[:6] if len(same) >= 3 else recs[:6]


def load_png(path) -> np.ndarray:
    from medcloud.ai.common.manifest import load_image

    return load_image(path)
