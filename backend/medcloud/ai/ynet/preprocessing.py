"""The Y-Net's pre-transforms, built from the generic ones in ``medcloud.ai.common.preprocessing``.

The same steps run on the training PNGs and on DICOM slices, so the network always
sees the same kind of input: modality values (``common.dicom_io.slice_pixels``:
rescale slope/intercept, MONOCHROME1 inverted), per-slice 0.5-99.5 percentile
min-max to [0, 1] (``normalize_intensity``), zero-pad to a square, antialiased
bilinear resize to each input size (``to_model_input``). The post-transforms
(flip/size TTA averaging, mask threshold, largest component, decision rule) are
the predictor's (``predictor.YNetPredictor``, tuned on val by ``calibrate``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydicom.dataset import Dataset

from medcloud.ai.common.dicom_io import slice_pixels
from medcloud.ai.common.preprocessing import normalize_intensity

# evaluation and calibration normalise and pad the slices at this size, then resize per input size
NATIVE_SIZE = 256
DESCRIPTION = "per-slice 0.5-99.5 percentile min-max, pad to square, antialiased bilinear resize"


def dicom_slices01(datasets: Sequence[Dataset]) -> list[np.ndarray]:
    """Normalised [0, 1] float32 slices of single-frame DICOM instances (in the order given)."""
    return [normalize_intensity(slice_pixels(ds)) for ds in datasets]
