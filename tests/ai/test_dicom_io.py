"""DICOM pixel conversion and geometry."""

from __future__ import annotations

import numpy as np
import pytest

from medcloud.ai.common.dicom_io import slice_geometry, slice_pixels, sort_series
from medcloud.ai.common.synthetic import series_from_images


def _ramp(h=20, w=30):
    return (np.arange(h * w).reshape(h, w) % 256).astype(np.uint8)


def test_rescale_and_monochrome1_give_the_same_picture():
    img = _ramp()
    plain = slice_pixels(series_from_images([img], bits=12)[0])
    inv = slice_pixels(series_from_images([img], bits=12, monochrome1=True, slope=2.0, intercept=-100.0)[0])
    # both are affine in the original intensities with a positive slope
    c = np.corrcoef(plain.ravel(), inv.ravel())[0, 1]
    assert c > 0.999
    ds = series_from_images([img], bits=16, slope=0.5, intercept=10.0)[0]
    stored = np.frombuffer(ds.PixelData, np.uint16).reshape(ds.Rows, ds.Columns)
    np.testing.assert_allclose(slice_pixels(ds), stored * 0.5 + 10.0)


def test_eight_bit_slices():
    ds = series_from_images([_ramp()], bits=8)[0]
    assert ds.BitsAllocated == 8
    assert slice_pixels(ds).shape == (20, 30)


def test_pixel_to_patient_mapping_by_hand():
    ds = series_from_images([_ramp()], pixel_spacing=(0.5, 0.7), orientation=(0, 1, 0, 0, 0, -1), origin=(10, 20, 30))[
        0
    ]
    g = slice_geometry(ds)
    # row 4, column 3: origin + 3 * 0.7 * (0,1,0) + 4 * 0.5 * (0,0,-1)
    np.testing.assert_allclose(g.to_patient([4], [3])[0], [10, 20 + 2.1, 30 - 2.0])
    np.testing.assert_allclose(g.normal, [-1, 0, 0])
    assert g.pixel_area_mm2 == pytest.approx(0.35)


def test_sorting_and_spacing_from_positions():
    s = series_from_images([_ramp()] * 5, slice_spacing=3.5, shuffle_seed=3)
    r = sort_series(s)
    assert [int(d.InstanceNumber) for d in r.datasets] == [1, 2, 3, 4, 5]
    assert r.slice_spacing == pytest.approx(3.5) and r.spacing_source == "positions"
    assert sorted(r.order) == list(range(5))


def test_spacing_falls_back_to_tags():
    one = series_from_images([_ramp()], slice_spacing=6.0)
    assert sort_series(one).spacing_source == "SpacingBetweenSlices"
    del one[0].SpacingBetweenSlices
    r = sort_series(one)
    assert r.spacing_source == "SliceThickness" and r.slice_spacing == 6.0
