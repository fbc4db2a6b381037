"""Manifests and the deterministic tf.data pipeline."""

from __future__ import annotations

import numpy as np
import pytest

from medcloud.ai.common.manifest import read_manifest
from medcloud.ai.ynet.data import epoch_order


def test_manifests_and_splits(ynet_data):
    train = read_manifest(ynet_data / "brain_mri_cheng", splits=["train"])
    val = read_manifest(ynet_data / "brain_mri_cheng", splits=["val"])
    assert len(train) == 1952 and len(val) == 486
    assert not {r.patient for r in train} & {r.patient for r in val}
    nt = read_manifest(ynet_data / "brain_mri_no_tumor")
    assert all(r.mask_path is None and r.label == "no_tumor" for r in nt)


def test_epoch_order_is_seeded_and_a_permutation():
    a = epoch_order(50, 3, 8, seed=7)
    b = epoch_order(50, 3, 8, seed=7)
    assert a.shape == (3, 6, 8)
    np.testing.assert_array_equal(a, b)
    assert len(set(a[0].ravel())) == 48
    assert not np.array_equal(a[0], a[1])


def test_geometry_is_identical_for_image_and_mask():
    tf = pytest.importorskip("tensorflow")
    from medcloud.ai.ynet.data import _seeds, augment_geometry

    m = np.zeros((6, 48, 48, 1), "float32")
    m[:, 10:30, 14:26] = 1.0
    img, mask = augment_geometry(tf.constant(m), tf.constant(m), _seeds(tf.constant([3, 4], tf.int64)))
    np.testing.assert_array_equal(img.numpy(), mask.numpy())
    assert not np.array_equal(mask.numpy(), m)  # it did move


def test_pipeline_is_deterministic(ynet_data):
    pytest.importorskip("tensorflow")
    from medcloud.ai.ynet.data import load_arrays, train_dataset

    recs = read_manifest(ynet_data / "brain_mri_cheng", splits=["val"])[:8]
    arr = load_arrays(recs, 32)
    b1 = next(iter(train_dataset(arr, 1, 4, seed=5)))
    b2 = next(iter(train_dataset(arr, 1, 4, seed=5)))
    b3 = next(iter(train_dataset(arr, 1, 4, seed=6)))
    np.testing.assert_array_equal(b1[0].numpy(), b2[0].numpy())
    np.testing.assert_array_equal(b1[1]["mask"].numpy(), b2[1]["mask"].numpy())
    assert not np.array_equal(b1[0].numpy(), b3[0].numpy())
    x = b1[0].numpy()
    assert x.shape == (4, 32, 32, 1) and 0.0 <= x.min() and x.max() <= 1.0


def test_erased_negatives_lose_the_tumour_and_keep_the_rest(ynet_data):
    """The training negatives made from tumour slices: the tumour region changes, the rest of the slice does
    not, and in the pipeline a swapped sample is labelled no tumour with an empty mask."""
    pytest.importorskip("tensorflow")
    from medcloud.ai.common.manifest import load_image, load_mask
    from medcloud.ai.common.preprocessing import normalize_intensity
    from medcloud.ai.ynet.config import CLASSES
    from medcloud.ai.ynet.data import erase_tumour, load_arrays, train_dataset

    recs = read_manifest(ynet_data / "brain_mri_cheng", splits=["val"])[:8]
    img = normalize_intensity(load_image(recs[0].image_path))
    mask = load_mask(recs[0], img.shape).astype(bool)
    erased = erase_tumour(img, mask, seed=0)
    from scipy import ndimage

    far = ~ndimage.binary_dilation(mask, iterations=12)  # pixels well away from the tumour
    np.testing.assert_allclose(erased[far], img[far], atol=1e-4)  # only the feather's far tail
    assert np.abs(erased[mask] - img[mask]).mean() > 0.05  # the (bright, enhancing) tumour is gone
    assert erased.shape == img.shape and 0.0 <= erased.min() and erased.max() <= 1.0

    arr = load_arrays(recs, 32, with_erased=True)
    assert not np.isnan(arr.erased).any()  # every Cheng slice has a mask, so every one has an erased copy
    never = next(iter(train_dataset(arr, 1, 8, seed=5, augment=False, erase_prob=0.0)))
    always = next(iter(train_dataset(arr, 1, 8, seed=5, augment=False, erase_prob=1.0)))
    no_tumour = CLASSES.index("no_tumor")
    assert (never[1]["class"].numpy().argmax(1) != no_tumour).all()
    assert (always[1]["class"].numpy().argmax(1) == no_tumour).all()
    assert always[1]["mask"].numpy().max() == 0.0 and never[1]["mask"].numpy().max() > 0.5
    assert not np.array_equal(always[0].numpy(), never[0].numpy())
